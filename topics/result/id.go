package result

import (
	"fmt"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// validateID applies repo's correlation id rule: 1 to 64 characters from [A-Za-z0-9._:-].
// TODO: call repo.ValidateID once repo/validate.go is committed (same rule, same sentinel).
func validateID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w %q: must be 1 to 64 characters from [A-Za-z0-9._:-]", repo.ErrInvalidID, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Errorf("%w %q: byte %d (%q) is not allowed; must be 1 to 64 characters from [A-Za-z0-9._:-]", repo.ErrInvalidID, id, i, c)
		}
	}
	return nil
}
