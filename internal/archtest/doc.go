// Package archtest holds the test that enforces liveplane's dependency rule
// (see ARCHITECTURE.md). It has no code of its own.
package archtest
