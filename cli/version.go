package cli

import (
	"fmt"
	"runtime/debug"
)

// Version and Commit are set at build time with
// -ldflags "-X github.com/tributary-dev/tributary/cli.Version=v0.1.0 -X …/cli.Commit=$(git rev-parse HEAD)"
// (the Containerfile and scripts/quickstart.sh do); left empty, the version
// and commit the go command stamped into the binary are printed.
var (
	Version = "dev"
	Commit  = ""
)

// modulePath is Tributary's module, looked up among a binary's dependencies
// when the program is a main of its own that embeds the CLI.
const modulePath = "github.com/tributary-dev/tributary"

// buildInfo is what `tributary version` prints: Tributary's module version,
// the commit and whether the tree was modified (from the go command's VCS
// stamp), the Go version, and the program's own module when it is not
// Tributary's (a main that embeds the CLI).
func buildInfo() map[string]string {
	info := map[string]string{"version": Version}
	if Commit != "" {
		info["commit"] = Commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info["go"] = bi.GoVersion
	moduleVersion := bi.Main.Version
	if bi.Main.Path != modulePath && bi.Main.Path != "" {
		info["program"] = bi.Main.Path
		moduleVersion = ""
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				moduleVersion = d.Version
				if d.Replace != nil && d.Replace.Version != "" {
					moduleVersion = d.Replace.Version
				}
			}
		}
	}
	if Version == "dev" && moduleVersion != "" {
		info["version"] = moduleVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if Commit == "" {
				info["commit"] = s.Value
			}
		case "vcs.modified":
			info["modified"] = s.Value
		}
	}
	return info
}

// versionLine is buildInfo on one line:
// "tributary v0.1.0 (commit 0123456789ab, go1.26.0)".
func versionLine(info map[string]string) string {
	s := "tributary " + info["version"] + " ("
	if c := info["commit"]; c != "" {
		s += fmt.Sprintf("commit %.12s", c)
		if info["modified"] == "true" {
			s += "+modified"
		}
		s += ", "
	}
	s += info["go"]
	if p := info["program"]; p != "" {
		s += ", in " + p
	}
	return s + ")"
}
