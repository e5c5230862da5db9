package cli

import (
	"context"
	"io"
	"os"

	"github.com/bindery/bindery/pkg/client"
	"github.com/bindery/bindery/pkg/jobs"
)

// submitFile submits a job with its file, streamed from disk (or standard
// input for "-").
func submitFile(ctx context.Context, c *client.Client, stdin io.Reader, jobType string, params map[string]string, path string) (*jobs.Job, error) {
	if path == "-" {
		return c.SubmitFile(ctx, jobType, params, stdin, -1)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return c.SubmitFile(ctx, jobType, params, f, size)
}
