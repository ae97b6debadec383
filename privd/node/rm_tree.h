/* Removing a directory tree without following symlinks. */
#ifndef LCW_RM_TREE_H
#define LCW_RM_TREE_H

/* Remove parent/name and everything below it (at most 64 levels); a
 * symlink is removed, never followed; what cannot go does not stop the
 * rest. 0 (also when it was not there), or -1 with the first errno. */
int rm_tree(int parent, const char *name);

#endif
