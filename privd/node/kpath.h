/* Rules for kubelet-supplied paths (staging_target_path, target_path,
 * volume_path). privd accepts them only below the configured kubelet root,
 * and resolves them component by component without following symlinks, so
 * a path cannot be redirected to somewhere else on the host. */
#ifndef LCW_KPATH_H
#define LCW_KPATH_H

#include <stddef.h>

/* Pure: the textual rules. path must be absolute, at most 4095 bytes, free
 * of NUL and control bytes, of empty, "." and ".." components, and strictly
 * below root (root itself is refused). Returns 0 or -EINVAL with a reason. */
int kpath_check(const char *root, const char *path, char *why, size_t whylen);

/* What a kubelet path is for. Only kubelet's own shapes are accepted
 * (relative to the kubelet root), so no volume is ever mounted over pki/,
 * plugins_registry/, device-plugins/ or a pod's other directories:
 *   staging (NodeStage/NodeUnstage staging_target_path):
 *     plugins/kubernetes.io/csi/<this driver's name>/<64 hex>/globalmount
 *       (kubelet >= 1.24: the hex is sha256 of the volume handle)
 *     plugins/kubernetes.io/csi/pv/<PV name>/globalmount  (older kubelets)
 *   target (NodePublish/NodeUnpublish target_path):
 *     pods/<pod uid>/volumes/kubernetes.io~csi/<volume name>/mount
 *   volume (NodeGetVolumeStats/NodeExpandVolume volume_path): either. */
enum kpath_kind { KPATH_STAGING = 1, KPATH_TARGET = 2, KPATH_VOLUME = 3 };

/* Pure: kpath_check plus the shape of kind. 0 or -EINVAL with a reason. */
int kpath_shape(const char *root, const char *path, enum kpath_kind kind, char *why,
		size_t whylen);

enum kpath_leaf { KPATH_MUST_EXIST = 0, KPATH_MKDIR = 1 };

/* Open path as O_PATH|O_DIRECTORY (leaf must be a directory) by walking
 * from root with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV is NOT set: kubelet dirs may be
 * mount points). With KPATH_MKDIR the last component is created (mode 0750)
 * if missing; parents must exist (the CO creates them). Returns an fd or a
 * negative errno. The caller mounts via "/proc/self/fd/<fd>". */
int kpath_open_dir(const char *root, const char *path, enum kpath_leaf leaf);

/* Open the parent directory of path's last component the same way
 * (symlink-free from root) and point *leaf at that component inside path.
 * For unmounts: an fd on the mount itself would keep it busy. Returns an
 * fd or a negative errno. */
int kpath_open_parent(const char *root, const char *path, const char **leaf);

/* Remove the last component of path if it is an empty directory that is not
 * a mount point (after unpublish). Not existing is 0. 0 or negative errno. */
int kpath_remove_dir(const char *root, const char *path);

#endif
