package workers

import (
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/workers/publishing"
)

// KindsFor returns Kinds with the job types that read the configuration
// when they plan (publishing profiles, the job files directory) given cat.
// The server plans, so it needs these; workers can use either.
func KindsFor(cat *config.Config) map[string]jobs.Kind {
	kinds := Kinds()
	kinds[publishing.TypeID] = publishing.Kind{Catalog: cat}
	kinds[publishing.ExportTypeID] = publishing.ExportKind{Catalog: cat}
	return kinds
}
