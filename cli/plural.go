package cli

import "fmt"

// count says "1 policy", "2 policies", "0 SAs": the number and the noun in
// the form the number takes, so that no output reads "1 errors".
func count(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
