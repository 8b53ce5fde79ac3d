// Package archtest holds the test that keeps the module's dependencies
// pointing one way (see its archtest_test.go); it has no code of its own.
package archtest
