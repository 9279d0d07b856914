#ifndef SWIFTFUNC_CSPAWN_SHIM_H
#define SWIFTFUNC_CSPAWN_SHIM_H
#include <spawn.h>
#include <sys/types.h>

// glibc (2.29 and 2.34 on) declares these only under _GNU_SOURCE, which Swift's Glibc module is
// not built with; Debian 12's glibc 2.36 has both.
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

// Starts `path` with `argv` and `envp` (both NULL-terminated) in a process group of its own, as
// Foundation's Process did (a terminal's Ctrl-C reaches the supervisor, which passes it on).
// Descriptors 0, 1, 2 become `in`, `out`, `err` (-1: inherited as they are); every other
// descriptor is closed in the child, whatever its close-on-exec flag; `cwd` NULL keeps ours.
// Returns 0, or the errno value that says why it did not start.
static inline int sf_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
                           int in, int out, int err) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return result;
    }
    const int wanted[3] = {in, out, err};
    for (int target = 0; target < 3 && result == 0; target++) {
        if (wanted[target] >= 0) result = posix_spawn_file_actions_adddup2(&actions, wanted[target], target);
    }
    if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (result == 0 && cwd != NULL) result = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    if (result == 0) result = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    if (result == 0) result = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}
#endif
