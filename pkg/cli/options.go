package cli

import "context"

// Options is what the options type of every meshctl command implements, in
// the order kubectl's commands run theirs:
//
//   - Complete fills in what the flags do not hold: the positional
//     arguments, the resolved settings (mesh name and namespace) and the
//     clients, all from the Factory. It does no validation and no I/O
//     beyond building clients lazily.
//   - Validate checks the options without touching a cluster, and returns a
//     usage error (exit 2) for anything the user has to change.
//   - Run does the work.
//
// Flags are bound straight to the options' fields before any of these run.
type Options interface {
	Complete(f Factory, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// Run is the one way a command runs its options: Complete, then Validate,
// then Run, stopping at the first error.
func Run(ctx context.Context, o Options, f Factory, args []string) error {
	if err := o.Complete(f, args); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return o.Run(ctx)
}
