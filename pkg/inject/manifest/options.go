package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/inject"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// MaxInputSize bounds one input (a file, a URL, stdin): the whole stream is
// held in memory so that output is all or nothing.
const MaxInputSize = 64 << 20

// FetchTimeout bounds fetching one https:// input with the client Complete
// makes, so that a stalled server fails the command rather than hanging it.
const FetchTimeout = 30 * time.Second

// Options are the options of `meshctl inject` and `meshctl uninject`.
type Options struct {
	genericiooptions.IOStreams

	// Mode is ModeInject or ModeUninject.
	Mode Mode
	// Filenames are the inputs: files, directories, https:// URLs or "-"
	// (stdin). Empty means stdin, which must then not be a terminal.
	Filenames []string
	// Recursive descends into subdirectories of directory inputs.
	Recursive bool
	// Quiet silences the report.
	Quiet bool
	// Strict fails (exit 1, nothing on stdout) when a workload is skipped.
	Strict bool
	// EnrolNamespaces enrols Namespace documents in the mesh.
	EnrolNamespaces bool
	// Force, with EnrolNamespaces, moves Namespace documents enrolled in
	// another mesh into this one; without it they fail the run.
	Force bool
	// MeshConfigFile reads the proxy settings from a MeshConfig manifest.
	MeshConfigFile string
	// FromCluster reads the proxy settings from the live MeshConfig.
	FromCluster bool
	// MeshName and MeshNamespace name the mesh and its control-plane
	// namespace; Complete takes them from the global settings.
	MeshName      string
	MeshNamespace string

	// Clients reaches the cluster for --from-cluster; only called then, so
	// that offline runs never load a kubeconfig. Complete sets it from the
	// Factory.
	Clients func() (*kube.Clients, error)
	// HTTPClient fetches https:// inputs; it should carry a timeout.
	// Complete sets one with FetchTimeout unless a test has set its own.
	HTTPClient *http.Client
	// FS reads files and directories; nil is the operating system's.
	FS FileSystem
}

// FileSystem is what file and directory inputs are read from.
type FileSystem interface {
	ReadFile(name string) ([]byte, error)
	Stat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
}

// OSFileSystem is the operating system's file system.
type OSFileSystem struct{}

// ReadFile reads a file, at most MaxInputSize bytes of it.
func (OSFileSystem) ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f)
}

// Stat stats a file.
func (OSFileSystem) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// ReadDir lists a directory, sorted by name.
func (OSFileSystem) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxInputSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxInputSize {
		return nil, fmt.Errorf("larger than %d MiB", MaxInputSize>>20)
	}
	return b, nil
}

// Complete takes the mesh's names from the settings, and the clients from
// f: the dynamic one is built only if --from-cluster asks for it.
func (o *Options) Complete(f cli.Factory, _ []string) error {
	s := f.Settings()
	o.MeshName, o.MeshNamespace = s.MeshName, s.MeshNamespace
	o.Clients = f.Clients
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: FetchTimeout}
	}
	return nil
}

// Validate checks the flags together; mistakes are usage errors.
func (o *Options) Validate() error {
	if o.MeshConfigFile != "" && o.FromCluster {
		return cli.UsageErrorf("--mesh-config and --from-cluster both say where the proxy settings come from: pass one")
	}
	if o.Mode == ModeUninject && (o.MeshConfigFile != "" || o.FromCluster || o.EnrolNamespaces || o.Force) {
		return cli.UsageErrorf("uninject removes what the marker names and needs no proxy settings or enrolment")
	}
	if o.Force && !o.EnrolNamespaces {
		return cli.UsageErrorf("--force moves Namespace documents of another mesh and needs --enrol-namespaces")
	}
	for _, f := range o.Filenames {
		switch {
		case f == "":
			return cli.UsageErrorf("-f: empty file name")
		case strings.HasPrefix(f, "http://"):
			return cli.UsageErrorf("-f %s: only https:// URLs are accepted", f)
		}
	}
	if len(o.Filenames) == 0 && cli.IsTerminal(o.In) {
		return cli.UsageErrorf("no input: pass -f FILE, or pipe manifests to stdin")
	}
	return nil
}

// input is one source of manifests.
type input struct {
	name string
	data []byte
}

// Run reads every input, transforms it, and writes the result to Out only
// when all of it succeeded; the report goes to ErrOut.
func (o *Options) Run(ctx context.Context) error {
	in, err := o.injector(ctx)
	if err != nil {
		return err
	}
	inputs, err := o.read(ctx)
	if err != nil {
		return err
	}
	s := &Stream{Injector: in, Mode: o.Mode, EnrolNamespaces: o.EnrolNamespaces, Force: o.Force, SeparateJSON: len(inputs) > 1}
	var out bytes.Buffer
	var report []Entry
	for i, inp := range inputs {
		text, entries, err := s.Process(inp.name, inp.data)
		if err != nil {
			return err
		}
		if i > 0 && len(text) > 0 {
			if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
				out.WriteByte('\n')
			}
			if !bytes.HasPrefix(text, []byte("---")) {
				out.WriteString("---\n")
			}
		}
		out.Write(text)
		report = append(report, entries...)
	}
	warnings := 0
	if !o.Quiet {
		for _, e := range report {
			fmt.Fprintln(o.ErrOut, e)
		}
	}
	for _, e := range report {
		if e.Result.Action == inject.Skipped && e.Result.Skip.Warning() {
			warnings++
		}
	}
	if o.Strict && warnings > 0 {
		return fmt.Errorf("%d workload(s) skipped and --strict is set; nothing written", warnings)
	}
	_, err = o.Out.Write(out.Bytes())
	return err
}

// injector builds the engine from the proxy settings' source.
func (o *Options) injector(ctx context.Context) (*inject.Injector, error) {
	spec := meshconfig.DefaultSpec()
	switch {
	case o.MeshConfigFile != "":
		data, err := o.fs().ReadFile(o.MeshConfigFile)
		if err != nil {
			return nil, fmt.Errorf("--mesh-config: %w", err)
		}
		mc, err := meshconfig.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("--mesh-config %s: %w", o.MeshConfigFile, err)
		}
		spec = mc.Spec
	case o.FromCluster:
		if o.Clients == nil {
			return nil, errors.New("--from-cluster: no cluster client")
		}
		c, err := o.Clients()
		if err != nil {
			return nil, fmt.Errorf("--from-cluster: %w", err)
		}
		mc, err := meshconfig.GetMesh(ctx, c.Dynamic, o.MeshName, o.MeshNamespace)
		if err != nil {
			return nil, fmt.Errorf("--from-cluster: %w", err)
		}
		spec = mc.Spec
	}
	return inject.New(spec, o.MeshName, o.MeshNamespace)
}

func (o *Options) fs() FileSystem {
	if o.FS == nil {
		return OSFileSystem{}
	}
	return o.FS
}

// read loads every input in order. Stdin is read at most once.
func (o *Options) read(ctx context.Context) ([]input, error) {
	names := o.Filenames
	if len(names) == 0 {
		names = []string{"-"}
	}
	var inputs []input
	stdinRead := false
	for _, name := range names {
		switch {
		case name == "-":
			if stdinRead {
				return nil, cli.UsageErrorf("-f -: stdin can be read only once")
			}
			stdinRead = true
			data, err := readLimited(o.In)
			if err != nil {
				return nil, fmt.Errorf("reading stdin: %w", err)
			}
			inputs = append(inputs, input{"<stdin>", data})
		case strings.HasPrefix(name, "https://"):
			data, err := o.fetch(ctx, name)
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, input{name, data})
		default:
			more, err := o.readPath(name)
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, more...)
		}
	}
	return inputs, nil
}

func (o *Options) readPath(name string) ([]input, error) {
	fsys := o.fs()
	st, err := fsys.Stat(name)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		data, err := fsys.ReadFile(name)
		if err != nil {
			return nil, err
		}
		return []input{{name, data}}, nil
	}
	entries, err := fsys.ReadDir(name)
	if err != nil {
		return nil, err
	}
	var inputs []input
	for _, e := range entries {
		p := filepath.Join(name, e.Name())
		if e.IsDir() {
			if o.Recursive {
				more, err := o.readPath(p)
				if err != nil {
					return nil, err
				}
				inputs = append(inputs, more...)
			}
			continue
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			data, err := fsys.ReadFile(p)
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, input{p, data})
		}
	}
	return inputs, nil
}

func (o *Options) fetch(ctx context.Context, url string) ([]byte, error) {
	client := o.HTTPClient
	if client == nil {
		return nil, fmt.Errorf("%s: no HTTP client", url)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err // names the URL already
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	data, err := readLimited(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return data, nil
}
