package discovery

import (
	"slices"
	"sort"
)

func slicesSortFunc[T any](s []T, cmp func(a, b T) int) { slices.SortFunc(s, cmp) }

func sortStrings(s []string) { sort.Strings(s) }
