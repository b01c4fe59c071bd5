// Package client holds the wire types of the kestrel agent protocol and the Go
// client the host uses to speak it. It is the only package the agent shares
// with the host side.
package client
