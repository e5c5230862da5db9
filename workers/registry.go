// Package workers holds one package per job type and the registry that maps
// catalog ids to their implementations.
package workers

import (
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/workers/importrevert"
	"github.com/bindery/bindery/workers/loananon"
	"github.com/bindery/bindery/workers/metadataimport"
	"github.com/bindery/bindery/workers/noop"
	"github.com/bindery/bindery/workers/publishing"
)

// Kinds returns every job type implementation by catalog id.
func Kinds() map[string]jobs.Kind {
	return map[string]jobs.Kind{
		importrevert.TypeID:     importrevert.Kind{},
		loananon.TypeID:         loananon.Kind{},
		metadataimport.TypeID:   metadataimport.Kind{},
		noop.TypeID:             noop.Kind{},
		publishing.TypeID:       publishing.Kind{},
		publishing.ExportTypeID: publishing.ExportKind{},
	}
}
