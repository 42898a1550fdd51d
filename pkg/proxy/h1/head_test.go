package h1

import (
	"bufio"
	"strings"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func reader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 4096) }
