//go:build !faultinject

package fault

// Enabled reports whether fault injection is compiled in: false in this build.
const Enabled = false

// Point does nothing in a build without the faultinject tag.
func Point(name, id string) {}
