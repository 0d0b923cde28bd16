package cli

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// FormatError renders err the way kubectl does, newline included:
// "Error from server (NotFound): pods \"x\" not found" for server errors,
// "The Pod \"x\" is invalid: ..." for validation errors and "error: ..." for
// everything else.
func FormatError(err error) string {
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		return "error: " + strings.TrimSuffix(err.Error(), "\n") + "\n"
	}
	st := se.ErrStatus
	if apierrors.IsInvalid(err) && st.Details != nil {
		prefix := "The request is invalid"
		if st.Details.Kind != "" || st.Details.Name != "" {
			prefix = fmt.Sprintf("The %s %q is invalid", st.Details.Kind, st.Details.Name)
		}
		switch len(st.Details.Causes) {
		case 0:
			return prefix + "\n"
		case 1:
			c := st.Details.Causes[0]
			return fmt.Sprintf("%s: %s\n", prefix, causeText(c.Field, c.Message))
		default:
			var b strings.Builder
			b.WriteString(prefix + ": \n")
			for _, c := range st.Details.Causes {
				fmt.Fprintf(&b, "* %s\n", causeText(c.Field, c.Message))
			}
			return b.String()
		}
	}
	if st.Reason == "" {
		return fmt.Sprintf("Error from server: %s\n", st.Message)
	}
	return fmt.Sprintf("Error from server (%s): %s\n", st.Reason, st.Message)
}

func causeText(field, msg string) string {
	if field == "" {
		return msg
	}
	return field + ": " + msg
}
