import Glibc

/// Prints to standard output at once, even when it is a pipe.
func say(_ line: String) {
    print(line)
    fflush(nil)
}
