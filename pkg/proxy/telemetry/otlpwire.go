package telemetry

import (
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// The OTLP request is written field by field with protowire, which links
// no more than varint and tag helpers. The field numbers below are those of
// opentelemetry-proto's trace.proto, common.proto and resource.proto (they
// are frozen: OTLP is stable). Fields go out in field-number order and
// proto3 default scalars are left out, so the bytes are those proto.Marshal
// would produce from the generated types; otlp_test.go checks that against
// the generated types.

// ExportTraceServiceRequest.
const requestResourceSpans protowire.Number = 1

// ResourceSpans.
const (
	resourceSpansResource   protowire.Number = 1
	resourceSpansScopeSpans protowire.Number = 2
	resourceSpansSchemaURL  protowire.Number = 3
)

// Resource.
const resourceAttributes protowire.Number = 1

// ScopeSpans.
const (
	scopeSpansScope     protowire.Number = 1
	scopeSpansSpans     protowire.Number = 2
	scopeSpansSchemaURL protowire.Number = 3
)

// InstrumentationScope.
const (
	scopeName       protowire.Number = 1
	scopeVersion    protowire.Number = 2
	scopeAttributes protowire.Number = 3
)

// Span.
const (
	spanTraceID                protowire.Number = 1
	spanSpanID                 protowire.Number = 2
	spanTraceState             protowire.Number = 3
	spanParentSpanID           protowire.Number = 4
	spanName                   protowire.Number = 5
	spanKind                   protowire.Number = 6
	spanStartTime              protowire.Number = 7
	spanEndTime                protowire.Number = 8
	spanAttributes             protowire.Number = 9
	spanDroppedAttributesCount protowire.Number = 10
	spanEvents                 protowire.Number = 11
	spanDroppedEventsCount     protowire.Number = 12
	spanLinks                  protowire.Number = 13
	spanDroppedLinksCount      protowire.Number = 14
	spanStatus                 protowire.Number = 15
	spanFlags                  protowire.Number = 16
)

// Span.Event.
const (
	eventTime                   protowire.Number = 1
	eventName                   protowire.Number = 2
	eventAttributes             protowire.Number = 3
	eventDroppedAttributesCount protowire.Number = 4
)

// Span.Link.
const (
	linkTraceID                protowire.Number = 1
	linkSpanID                 protowire.Number = 2
	linkTraceState             protowire.Number = 3
	linkAttributes             protowire.Number = 4
	linkDroppedAttributesCount protowire.Number = 5
	linkFlags                  protowire.Number = 6
)

// Status.
const (
	statusMessage protowire.Number = 2
	statusCode    protowire.Number = 3
)

// KeyValue, AnyValue and ArrayValue.
const (
	keyValueKey      protowire.Number = 1
	keyValueValue    protowire.Number = 2
	anyValueString   protowire.Number = 1
	anyValueBool     protowire.Number = 2
	anyValueInt      protowire.Number = 3
	anyValueDouble   protowire.Number = 4
	anyValueArray    protowire.Number = 5
	arrayValueValues protowire.Number = 1
)

// OTLP's enum numbers for Span.SpanKind and Status.StatusCode.
const (
	otlpSpanKindUnspecified = iota
	otlpSpanKindInternal
	otlpSpanKindServer
	otlpSpanKindClient
	otlpSpanKindProducer
	otlpSpanKindConsumer
)

const (
	otlpStatusUnset = iota
	otlpStatusOK
	otlpStatusError
)

// OTLP's span flags: the W3C trace flags in the low byte, and whether the
// parent is remote, with a bit saying that is known.
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// marshalSpans encodes an ExportTraceServiceRequest: spans grouped by
// resource, then by instrumentation scope, each group in the order its
// first span came.
func marshalSpans(spans []sdktrace.ReadOnlySpan) []byte {
	type scopeGroup struct {
		scope instrumentation.Scope
		spans []sdktrace.ReadOnlySpan
	}
	type resourceGroup struct {
		res    *resource.Resource
		scopes []*scopeGroup
	}
	type scopeKey struct {
		res   *resource.Resource
		scope instrumentation.Scope
	}
	byResource := map[*resource.Resource]*resourceGroup{}
	byScope := map[scopeKey]*scopeGroup{}
	var order []*resourceGroup
	for _, s := range spans {
		res := s.Resource()
		rg, ok := byResource[res]
		if !ok {
			rg = &resourceGroup{res: res}
			byResource[res] = rg
			order = append(order, rg)
		}
		k := scopeKey{res, s.InstrumentationScope()}
		sg, ok := byScope[k]
		if !ok {
			sg = &scopeGroup{scope: k.scope}
			byScope[k] = sg
			rg.scopes = append(rg.scopes, sg)
		}
		sg.spans = append(sg.spans, s)
	}

	var b []byte
	for _, rg := range order {
		var rs int
		b, rs = beginMessage(b, requestResourceSpans)
		var r int
		b, r = beginMessage(b, resourceSpansResource)
		b = appendKeyValues(b, resourceAttributes, rg.res.Attributes())
		b = endMessage(b, r)
		for _, sg := range rg.scopes {
			var ss int
			b, ss = beginMessage(b, resourceSpansScopeSpans)
			b = appendScope(b, sg.scope)
			for _, s := range sg.spans {
				var sp int
				b, sp = beginMessage(b, scopeSpansSpans)
				b = appendSpan(b, s)
				b = endMessage(b, sp)
			}
			b = appendString(b, scopeSpansSchemaURL, sg.scope.SchemaURL)
			b = endMessage(b, ss)
		}
		b = appendString(b, resourceSpansSchemaURL, rg.res.SchemaURL())
		b = endMessage(b, rs)
	}
	return b
}

// appendScope appends the ScopeSpans.scope field.
func appendScope(b []byte, scope instrumentation.Scope) []byte {
	b, m := beginMessage(b, scopeSpansScope)
	b = appendString(b, scopeName, scope.Name)
	b = appendString(b, scopeVersion, scope.Version)
	b = appendKeyValues(b, scopeAttributes, scope.Attributes.ToSlice())
	return endMessage(b, m)
}

// appendSpan appends the body of one Span message.
func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	sc, parent := s.SpanContext(), s.Parent()
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := uint32(sc.TraceFlags()) | flagHasIsRemote
	b = appendBytes(b, spanTraceID, tid[:])
	b = appendBytes(b, spanSpanID, sid[:])
	b = appendString(b, spanTraceState, sc.TraceState().String())
	if parent.SpanID().IsValid() {
		psid := parent.SpanID()
		b = appendBytes(b, spanParentSpanID, psid[:])
		if parent.IsRemote() {
			flags |= flagIsRemote
		}
	}
	b = appendString(b, spanName, s.Name())
	b = appendVarint(b, spanKind, otlpSpanKind(s.SpanKind()))
	b = appendFixed64(b, spanStartTime, uint64(s.StartTime().UnixNano()))
	b = appendFixed64(b, spanEndTime, uint64(s.EndTime().UnixNano()))
	b = appendKeyValues(b, spanAttributes, s.Attributes())
	b = appendVarint(b, spanDroppedAttributesCount, uint64(uint32(s.DroppedAttributes())))
	for _, ev := range s.Events() {
		var m int
		b, m = beginMessage(b, spanEvents)
		b = appendFixed64(b, eventTime, uint64(ev.Time.UnixNano()))
		b = appendString(b, eventName, ev.Name)
		b = appendKeyValues(b, eventAttributes, ev.Attributes)
		b = appendVarint(b, eventDroppedAttributesCount, uint64(uint32(ev.DroppedAttributeCount)))
		b = endMessage(b, m)
	}
	b = appendVarint(b, spanDroppedEventsCount, uint64(uint32(s.DroppedEvents())))
	for _, l := range s.Links() {
		b = appendLink(b, l)
	}
	b = appendVarint(b, spanDroppedLinksCount, uint64(uint32(s.DroppedLinks())))
	b = appendStatus(b, s.Status())
	return appendFixed32(b, spanFlags, flags)
}

// appendLink appends one Span.links field.
func appendLink(b []byte, l sdktrace.Link) []byte {
	ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
	flags := uint32(l.SpanContext.TraceFlags()) | flagHasIsRemote
	if l.SpanContext.IsRemote() {
		flags |= flagIsRemote
	}
	b, m := beginMessage(b, spanLinks)
	b = appendBytes(b, linkTraceID, ltid[:])
	b = appendBytes(b, linkSpanID, lsid[:])
	b = appendString(b, linkTraceState, l.SpanContext.TraceState().String())
	b = appendKeyValues(b, linkAttributes, l.Attributes)
	b = appendVarint(b, linkDroppedAttributesCount, uint64(uint32(l.DroppedAttributeCount)))
	b = appendFixed32(b, linkFlags, flags)
	return endMessage(b, m)
}

// appendStatus appends Span.status, present even when unset, as the
// generated code sent it. OpenTelemetry's code numbers differ from OTLP's
// (Error is 1 in the API, 2 on the wire).
func appendStatus(b []byte, s sdktrace.Status) []byte {
	code := uint64(otlpStatusUnset)
	switch s.Code {
	case codes.Ok:
		code = otlpStatusOK
	case codes.Error:
		code = otlpStatusError
	}
	b, m := beginMessage(b, spanStatus)
	b = appendString(b, statusMessage, s.Description)
	b = appendVarint(b, statusCode, code)
	return endMessage(b, m)
}

// otlpSpanKind maps the API's span kinds explicitly rather than relying on
// the two enums happening to share numbers; an unknown kind is unspecified.
func otlpSpanKind(k trace.SpanKind) uint64 {
	switch k {
	case trace.SpanKindInternal:
		return otlpSpanKindInternal
	case trace.SpanKindServer:
		return otlpSpanKindServer
	case trace.SpanKindClient:
		return otlpSpanKindClient
	case trace.SpanKindProducer:
		return otlpSpanKindProducer
	case trace.SpanKindConsumer:
		return otlpSpanKindConsumer
	}
	return otlpSpanKindUnspecified
}

// appendKeyValues appends attrs as repeated KeyValue field num.
func appendKeyValues(b []byte, num protowire.Number, attrs []attribute.KeyValue) []byte {
	for _, a := range attrs {
		var kv, v int
		b, kv = beginMessage(b, num)
		b = appendString(b, keyValueKey, string(a.Key))
		b, v = beginMessage(b, keyValueValue)
		b = appendAnyValue(b, a.Value)
		b = endMessage(b, v)
		b = endMessage(b, kv)
	}
	return b
}

// appendAnyValue appends the body of an AnyValue. Its value is a oneof, so
// zero values (false, 0, "") are written too: they are set, not absent. A
// type OTLP cannot carry leaves the AnyValue empty.
func appendAnyValue(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.BOOL:
		b = protowire.AppendTag(b, anyValueBool, protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(v.AsBool()))
	case attribute.INT64:
		b = protowire.AppendTag(b, anyValueInt, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(v.AsInt64()))
	case attribute.FLOAT64:
		b = protowire.AppendTag(b, anyValueDouble, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		b = protowire.AppendTag(b, anyValueString, protowire.BytesType)
		return protowire.AppendString(b, v.AsString())
	case attribute.BOOLSLICE:
		return appendArray(b, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return appendArray(b, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return appendArray(b, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		return appendArray(b, v.AsStringSlice(), attribute.StringValue)
	}
	return b
}

// appendArray appends AnyValue.array_value, present even when vs is empty
// so that an empty slice stays an (empty) array on the collector's side.
func appendArray[T any](b []byte, vs []T, value func(T) attribute.Value) []byte {
	b, arr := beginMessage(b, anyValueArray)
	for _, v := range vs {
		var m int
		b, m = beginMessage(b, arrayValueValues)
		b = appendAnyValue(b, value(v))
		b = endMessage(b, m)
	}
	return endMessage(b, arr)
}

// beginMessage starts length-delimited field num and returns where its
// body starts, for endMessage. It reserves one byte for the length, which
// is all that small messages (a KeyValue, an AnyValue) need; endMessage
// moves longer bodies up. This costs a copy per nesting level of the
// larger messages, instead of a sizing pass over every message.
func beginMessage(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = append(b, 0)
	return b, len(b)
}

// endMessage writes the length of the body that began at start.
func endMessage(b []byte, start int) []byte {
	n := len(b) - start
	if extra := protowire.SizeVarint(uint64(n)) - 1; extra > 0 {
		b = append(b, make([]byte, extra)...)
		copy(b[start+extra:], b[start:start+n])
	}
	// b[:start-1] has room for the varint up to the moved body, so this
	// writes in place.
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}

// The append helpers below leave out proto3 defaults, as proto.Marshal
// does for non-oneof scalar fields.

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendFixed32(b []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

func appendFixed64(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}
