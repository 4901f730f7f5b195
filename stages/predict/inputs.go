package predict

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Case is one image to predict: its identifier and channel files in
// channel order.
type Case struct {
	ID    string
	Files []string
}

// ListCases enumerates the cases of a folder of `<case>_<XXXX><ending>`
// channel files, as upstream's get_identifiers_from_splitted_dataset_folder,
// and checks that every case has exactly the channels 0000..channels-1.
func ListCases(dir, ending string, channels int) ([]Case, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("image folder %s is missing", dir)
		}
		return nil, fmt.Errorf("list images: %w", err)
	}
	re := regexp.MustCompile(`^(.+)_(\d{4})` + regexp.QuoteMeta(ending) + `$`)
	byID := map[string]map[int]string{}
	var stray []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ending) {
			continue
		}
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			stray = append(stray, e.Name())
			continue
		}
		ch, _ := strconv.Atoi(m[2])
		if byID[m[1]] == nil {
			byID[m[1]] = map[int]string{}
		}
		byID[m[1]][ch] = filepath.Join(dir, e.Name())
	}
	if len(stray) > 0 {
		slices.Sort(stray)
		return nil, fmt.Errorf("%s: %s not named <case>_<XXXX>%s (a four-digit channel index, e.g. case_0000%s)", dir, strings.Join(stray, ", "), ending, ending)
	}
	if len(byID) == 0 {
		return nil, fmt.Errorf("%s holds no *_0000%s image files", dir, ending)
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	cases := make([]Case, 0, len(ids))
	for _, id := range ids {
		files := byID[id]
		c := Case{ID: id}
		for ch := range channels {
			f, ok := files[ch]
			if !ok {
				return nil, fmt.Errorf("case %s: channel file %s is missing (the model takes %d channel(s): %s)",
					id, filepath.Join(dir, fmt.Sprintf("%s_%04d%s", id, ch, ending)), channels, channelRange(id, channels, ending))
			}
			c.Files = append(c.Files, f)
		}
		if len(files) != channels {
			var extra []string
			for ch, f := range files {
				if ch >= channels {
					extra = append(extra, filepath.Base(f))
				}
			}
			slices.Sort(extra)
			return nil, fmt.Errorf("case %s has %d channel files but the model takes %d (%s); remove %s or predict with a model trained on %d channels",
				id, len(files), channels, channelRange(id, channels, ending), strings.Join(extra, ", "), len(files))
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// channelRange names the expected channel files of a case.
func channelRange(id string, n int, ending string) string {
	if n == 1 {
		return fmt.Sprintf("%s_0000%s", id, ending)
	}
	return fmt.Sprintf("%s_0000%s .. %s_%04d%s", id, ending, id, n-1, ending)
}
