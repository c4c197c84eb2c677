package sandboxconfig

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
)

var sizeRE = regexp.MustCompile(`^\d+[kmgKMG]?$`)

// ms-enclave's exact messages for malformed sizes.
var (
	//lint:ignore ST1005 ms-enclave's exact text, which clients see
	errSizeFormat = errors.New("Invalid memory limit format")
	//lint:ignore ST1005 the same form for disk_limit
	errDiskFormat = errors.New("Invalid disk limit format")
)

// ParseSize converts a size such as memory_limit ("512m") to bytes (k/m/g:
// powers of 1024). A value too large for int64 is math.MaxInt64 (callers
// clamp it).
func ParseSize(s string) (int64, error) {
	if !sizeRE.MatchString(s) {
		return 0, errSizeFormat
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	n, err := strconv.ParseInt(strings.TrimRight(s, "kmgKMG"), 10, 64)
	if errors.Is(err, strconv.ErrRange) || (err == nil && n > math.MaxInt64/mult) {
		return math.MaxInt64, nil
	}
	if err != nil {
		return 0, errSizeFormat
	}
	return n * mult, nil
}
