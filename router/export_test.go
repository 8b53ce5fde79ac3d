package router

// VersionBelow is versionBelow, for the external tests.
var VersionBelow = versionBelow
