package harvester

import (
	"os"
	"path/filepath"
	"strings"
)

// inTree says whether the file opened as f (info fi) at path is reached
// without a symbolic link below the fixed part of one of in's patterns. The
// pattern's fixed part is the operator's (a /var/log that is a link is
// theirs to make); what is below it is whoever can write there, and
// filepath.Glob follows a link to a directory (logs/x -> /root), which
// O_NOFOLLOW, covering only the last name, does not see. The check is made
// after the open, on the open file: a link swapped in and out around the open
// leaves either a link on the path or another file at it.
func (in *input) inTree(path string, fi os.FileInfo) bool {
	root := ""
	for _, p := range in.Paths {
		if r := fixedDir(p); within(path, r) && len(r) > len(root) {
			root = r
		}
	}
	if root == "" {
		return false
	}
	for dir := filepath.Dir(path); len(dir) > len(root); dir = filepath.Dir(dir) {
		st, err := os.Lstat(dir)
		if err != nil || st.Mode()&os.ModeSymlink != 0 {
			return false
		}
	}
	now, err := os.Lstat(path)
	return err == nil && os.SameFile(now, fi)
}

// fixedDir is the directory of a pattern before its first element with a
// glob character: /var/log/*/app-*.log -> /var/log.
func fixedDir(pattern string) string {
	dir := filepath.Dir(pattern)
	for {
		i := strings.IndexAny(dir, `*?[\`)
		if i < 0 {
			return dir
		}
		dir = filepath.Dir(dir[:i])
	}
}

// within says whether path is below dir.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != ".."
}
