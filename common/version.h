/* Driver identity shared by both processes. LCW_VERSION comes from the
 * Makefile (git describe), with a fallback for builds outside git. */
#ifndef LCW_VERSION_H
#define LCW_VERSION_H

#define LCW_DRIVER_NAME "lukscryptwalker.csi.k8s.io"
#ifndef LCW_VERSION
#define LCW_VERSION "0.1.0-dev"
#endif

#endif
