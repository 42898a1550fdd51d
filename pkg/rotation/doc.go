// Package rotation owns `meshctl identity rotate`: replacing the issuer of
// a mesh CA that meshctl generated, and with --anchor its trust anchor
// too, in overlapping steps so that no connection between proxies fails.
//
// An issuer rotation writes a new issuer, signed by the anchor of the
// anchor Secret, into the issuer Secret. The controller picks it up and
// names it in every channel snapshot; each proxy then renews within
// seconds (credentials.RotationSpread). Old and new certificates chain to
// the same anchor, so every proxy keeps trusting both meanwhile.
//
// An anchor rotation has three steps, each waiting until every ready
// proxy with identity reports it:
//  1. a new anchor is added to the trust bundle beside the old one;
//  2. a new issuer, signed by the new anchor, replaces the old issuer, and
//     proxies renew (their peers trust both anchors);
//  3. the old anchor is removed from the bundle.
//
// The state of a rotation lives in the cluster, not in the command: the
// new anchor is written to the anchor Secret first, with the fingerprint
// of the anchor it retires in an annotation, so that a rotation stopped at
// any point (Ctrl-C, a timeout, a lost connection) is finished by running
// the command again. Nothing is ever rolled back: each state between two
// steps is one the mesh works in.
package rotation
