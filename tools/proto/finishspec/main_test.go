package main

import (
	"fmt"
	"math"
	"regexp"
	"testing"
)

func TestUpToMatchesExactlyTheRange(t *testing.T) {
	re := regexp.MustCompile("^" + upTo(fmt.Sprint(uint64(math.MaxInt64))) + "$")
	for _, ok := range []string{"0", "7", "10", "4027522358977562972", "9223372036854775807", "9223372036854775799", "8999999999999999999"} {
		if !re.MatchString(ok) {
			t.Errorf("%s: want a match", ok)
		}
	}
	for _, bad := range []string{"", "01", "9223372036854775808", "9300000000000000000", "10000000000000000000", "-1", "1.5"} {
		if re.MatchString(bad) {
			t.Errorf("%s: want no match", bad)
		}
	}
	small := regexp.MustCompile("^" + upTo("305") + "$")
	for i := 0; i < 1000; i++ {
		if got, want := small.MatchString(fmt.Sprint(i)), i <= 305; got != want {
			t.Errorf("upTo(305) on %d: %v", i, got)
		}
	}
}
