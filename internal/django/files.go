package django

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is one generated file, its path relative to --out.
type File struct {
	Path    string
	Content string
}

// Files renders the notes and every app's migration.
func (r *Result) Files() ([]File, error) {
	files := []File{{Path: NotesFile, Content: r.Notes()}}
	for _, a := range r.Apps {
		src, err := r.Migration(a)
		if err != nil {
			return nil, fmt.Errorf("rendering the migration of app %s: %w", a.Label, err)
		}
		files = append(files, File{Path: MigrationPath(a), Content: src})
	}
	return files, nil
}

// WriteDir writes the files under dir (a migration into
// dir/<app>/migrations, so dir is the project root), creating directories
// as needed and replacing earlier output.
func WriteDir(dir string, files []File) error {
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(f.Content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteStream writes the files one after the other, each under a line
// naming its path, for reading or splitting without --out.
func WriteStream(w io.Writer, files []File) error {
	for i, f := range files {
		sep := "\n"
		if i == 0 {
			sep = ""
		}
		if _, err := fmt.Fprintf(w, "%s# ==> %s <==\n%s", sep, f.Path, f.Content); err != nil {
			return err
		}
	}
	return nil
}
