package channel

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrMessageTooLarge is the error of a line longer than the decoder's
// bound. The stream cannot be resynchronised after it: drop the
// connection.
var ErrMessageTooLarge = errors.New("channel message over the size limit")

// keepBuffer is the largest line buffer a Decoder keeps between messages;
// a larger one, grown for a big snapshot, is dropped so an idle proxy does
// not hold megabytes it needed once.
const keepBuffer = 64 << 10

// Decoder reads Messages from a stream, one per line, each at most its
// bound. It checks the envelope only (the JSON, the version's form and the
// presence of content); DecodeSnapshot checks a snapshot's content.
type Decoder struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewDecoder reads from r lines of at most max bytes, newline included;
// max <= 0 is MaxMessageBytes.
func NewDecoder(r io.Reader, max int) *Decoder {
	if max <= 0 {
		max = MaxMessageBytes
	}
	return &Decoder{r: bufio.NewReaderSize(r, 4096), max: max}
}

// Next reads the next message. Blank lines are skipped. Messages of a type
// this package does not know are returned as they are, for the caller to
// ignore. A line over the bound is ErrMessageTooLarge; the stream ending
// is io.EOF at a line boundary and io.ErrUnexpectedEOF within a line.
func (d *Decoder) Next() (Message, error) {
	for {
		line, err := d.readLine()
		if err != nil {
			return Message{}, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var m Message
		if err := json.Unmarshal(line, &m); err != nil {
			return Message{}, fmt.Errorf("channel message: %w", err)
		}
		if err := m.check(); err != nil {
			return Message{}, err
		}
		return m, nil
	}
}

// readLine returns the next line without its newline, in d.buf, which the
// next call reuses.
func (d *Decoder) readLine() ([]byte, error) {
	if cap(d.buf) > keepBuffer {
		d.buf = nil
	}
	d.buf = d.buf[:0]
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(d.buf)+len(chunk) > d.max {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrMessageTooLarge, d.max)
		}
		d.buf = append(d.buf, chunk...)
		switch {
		case err == nil:
			return d.buf[:len(d.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(d.buf) > 0 {
				return nil, fmt.Errorf("channel message cut after %d bytes: %w", len(d.buf), io.ErrUnexpectedEOF)
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// check validates the envelope.
func (m *Message) check() error {
	if m.Type == "" {
		return errors.New("channel message: no type")
	}
	if m.Type != TypeSnapshot && m.Type != TypeHeartbeat {
		// A newer controller's message: ignorable, not an error.
		return nil
	}
	if err := m.Version.check(); err != nil {
		return fmt.Errorf("channel %s message: %w", m.Type, err)
	}
	if m.Type == TypeSnapshot && len(m.Content) == 0 {
		return errors.New("channel snapshot message: no content")
	}
	return nil
}

// check validates the version's form.
func (v Version) check() error {
	hexPart, ok := strings.CutPrefix(v.Hash, hashPrefix)
	if !ok || len(hexPart) != 64 {
		return fmt.Errorf("version hash %.80q: want %s and 64 hex digits", v.Hash, hashPrefix)
	}
	for i := 0; i < len(hexPart); i++ {
		if c := hexPart[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("version hash %.80q: want lowercase hex digits", v.Hash)
		}
	}
	if v.Generated.IsZero() {
		return errors.New("version: no generation time")
	}
	return nil
}

// DecodeSnapshot checks a TypeSnapshot message's content against its
// version's hash and validates it (see NewSnapshot).
func DecodeSnapshot(m Message) (*Snapshot, error) {
	if m.Type != TypeSnapshot {
		return nil, fmt.Errorf("channel message: a %q message is not a snapshot", m.Type)
	}
	if got := HashContent(m.Content); got != m.Version.Hash {
		return nil, fmt.Errorf("snapshot %s: the content hashes to %s", m.Version, got)
	}
	var c Content
	if err := json.Unmarshal(m.Content, &c); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", m.Version, err)
	}
	s, err := NewSnapshot(m.Version, c)
	if err != nil {
		return nil, err
	}
	s.Bytes = len(m.Content)
	return s, nil
}
