# syntax=docker/dockerfile:1
#
# lukscryptwalker-csi image: Debian 12, two stages.
#
#   docker build -t REGISTRY/lukscryptwalker-csi:TAG --build-arg VERSION=TAG .
#
# The runtime stage holds the two binaries, the shared libraries they link,
# and only the programs privd's spawner executes (fixed paths in
# privd/spawner.c): mkfs.ext4, mkfs.ext3, resize2fs (e2fsprogs), mkfs.xfs,
# xfs_growfs (xfsprogs), and for the S3 backend rclone with fusermount3
# (fuse3). No shell tools are needed at run time: loop devices, dm-crypt and
# mounts go through ioctls, libcryptsetup and libmount inside privd.
#
# The image's default user is 65534 (nobody): the controller runs as that
# user (only the CSI frontend, no privd). The node plugin's pod sets
# runAsUser: 0 for privd, which starts the frontend as 65534 itself.

ARG DEBIAN=debian:12-slim

# ---- build -------------------------------------------------------------------
FROM ${DEBIAN} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev \
      libseccomp-dev libcap-ng-dev libcryptsetup-dev libmount-dev libblkid-dev \
      libjson-c-dev libmsgpack-dev libcurl4-openssl-dev libxml2-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only the sources the binaries are built from (no build trees, no tests;
# the Makefile includes the k8s test fragment, which only defines rules).
COPY Makefile ./
COPY ipc/ ipc/
COPY common/ common/
COPY policy/ policy/
COPY privd/ privd/
COPY frontend/ frontend/
COPY proto/ proto/
ARG VERSION=0.0.0-dev
RUN make -j"$(nproc)" VERSION="${VERSION}" build/bin/lukscryptwalker-csi build/bin/lcw-frontend \
 && install -d /out \
 && install -m 0755 -s build/bin/lukscryptwalker-csi build/bin/lcw-frontend /out/

# ---- runtime -----------------------------------------------------------------
FROM ${DEBIAN}
ARG VERSION=0.0.0-dev
LABEL org.opencontainers.image.title="lukscryptwalker-csi" \
      org.opencontainers.image.description="Privilege-separated CSI driver for LUKS2 and rclone-crypt volumes" \
      org.opencontainers.image.version="${VERSION}"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc29 libprotobuf-c1 libmsgpackc2 libseccomp2 libcap-ng0 libjson-c5 \
      libcryptsetup12 libmount1 libblkid1 libcurl4 libxml2 libssl3 \
      e2fsprogs xfsprogs rclone fuse3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/* /var/log/apt /var/log/dpkg.log
# No set-user-id or set-group-id programs: nothing in the image may gain
# privileges by exec (the controller also runs with no_new_privs). The
# frontend's user and group (65534, nobody/nogroup) exist in Debian already.
RUN find / -xdev -type f -perm /6000 -exec chmod ug-s {} + \
 && getent passwd 65534 >/dev/null && getent group 65534 >/dev/null
COPY --from=build /out/lukscryptwalker-csi /out/lcw-frontend /usr/local/bin/
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/lukscryptwalker-csi"]
