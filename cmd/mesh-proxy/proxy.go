package main

import (
	"context"
	"errors"
	"io"

	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

func runProxy(ctx context.Context, r proxyconfig.Run, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
	return errors.New("not yet")
}
