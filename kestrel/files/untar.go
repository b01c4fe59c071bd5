package files

import (
	"errors"
	"net/http"
	"os"

	"github.com/volant-sh/volant/internal/tarfs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

func handleUploadTar(w http.ResponseWriter, r *http.Request) {
	dir, err := pathParam(r.URL.Query())
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		reply.FromErr(w, err)
		return
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	defer root.Close()
	// As root in the guest: the archive's owners are applied.
	res, err := tarfs.Extract(root, dir, r.Body, tarfs.ExtractOptions{Owners: true})
	if err != nil {
		if errors.As(err, new(*tarfs.ArchiveError)) {
			reply.Invalid(w, err.Error())
			return
		}
		reply.FromErr(w, err)
		return
	}
	syncDir(dir)
	reply.JSON(w, http.StatusOK, client.TarResult{Files: res.Files, Dirs: res.Dirs, Bytes: res.Bytes})
}
