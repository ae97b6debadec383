# lukscryptwalker-csi: build, tests, set-up.
#
#   make deps      install the Debian packages the build and tests need
#   make           build bin/ (privd + frontend) into build/
#   make SAN=1     the same with ASan+UBSan into build-san/
#   make check     build everything and run every test suite (tests/run-all.sh)
#   make demo      start the driver on a local socket and show what it answers

SAN ?= 0
ifeq ($(SAN),1)
B := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B := build
SANFLAGS :=
endif

CC ?= cc
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
	-D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE \
	-DLCW_VERSION='"$(VERSION)"' $(SANFLAGS)
LDFLAGS += -pie -Wl,-z,relro,-z,now $(SANFLAGS)
# One -I per folder: a file names the header, the folder rules live here.
INC_DIRS := ipc common policy privd privd/node privd/k8s privd/luks privd/s3 frontend
CPPFLAGS += $(addprefix -I,$(INC_DIRS)) -I$(B)/gen
HDRS := $(foreach d,$(INC_DIRS),$(wildcard $(d)/*.h))

PKG_COMMON := msgpack libseccomp libcap-ng
PKG_PRIVD := $(PKG_COMMON) json-c libcryptsetup mount blkid libcurl libxml-2.0 libcrypto
PKG_FRONTEND := $(PKG_COMMON) grpc libprotobuf-c libcurl json-c libxml-2.0 libcrypto
# common/ is linked into both; it may not see gRPC or protobuf either.
PKG_SHARED := $(PKG_COMMON) json-c libcurl libxml-2.0 libcrypto

pc_cflags = $(shell pkg-config --cflags $(1))
pc_libs = $(shell pkg-config --libs $(1))

GEN := $(B)/gen
PROTO_WKT := /usr/include/google/protobuf
CSIADDONS_PROTO := proto/csiaddons/identity.proto proto/csiaddons/encryptionkeyrotation.proto \
	proto/csiaddons/reclaimspace.proto
PROTO_GEN_C := $(GEN)/csi.pb-c.c $(GEN)/google/protobuf/descriptor.pb-c.c \
	$(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(CSIADDONS_PROTO)) \
	$(GEN)/google/protobuf/timestamp.pb-c.c $(GEN)/google/protobuf/wrappers.pb-c.c
POLICY_TEXTS := $(GEN)/policy_texts.c

# Source lists, one per folder; the folders say where code runs (README
# "Architecture"). tests/layout/check-layout.sh checks that every .c file
# is listed once, and what each binary may link.
IPC_SRC := ipc/ipc_codec.c ipc/ipc_schema.c ipc/ipc_chan.c ipc/ipc_rpc.c
# The Kubernetes client and the S3 pieces are several files each; test
# binaries link them through these lists.
K8S_CLIENT_SRC := common/k8s_client.c common/k8s_capacity.c common/k8s_http.c common/k8s_json.c \
	common/k8s_names.c common/k8s_secret.c common/k8s_pv_list.c common/k8s_pv_get.c common/k8s_event.c common/k8s_pod.c
S3_PARAMS_SRC := common/s3_params.c common/s3_units.c common/s3_secret.c common/s3_endpoint.c
S3_PURGE_SRC := common/s3_purge.c common/s3_request.c common/s3_list.c common/s3_xml.c
COMMON_SRC := common/log.c common/secmem.c common/volparams.c common/keyed_lock.c common/base64.c \
	$(K8S_CLIENT_SRC) $(S3_PARAMS_SRC) $(S3_PURGE_SRC)
POLICY_SRC := policy/policy_parse.c policy/policy_load.c
PRIVD_CORE_SRC := privd/main.c privd/flags.c privd/spawner.c privd/spawner_client.c privd/ns_repair.c \
	privd/dispatch.c privd/jobq.c privd/reclaimer.c privd/capacity_pub.c privd/socket_dir.c
PRIVD_NODE_SRC := privd/node/answer.c privd/node/mountops.c privd/node/kpath.c privd/node/rm_tree.c privd/node/audit.c
PRIVD_K8S_SRC := privd/k8s/pv_stage.c privd/k8s/pv_bind.c privd/k8s/reclaim.c privd/k8s/pv_claim.c \
	privd/k8s/events.c
PRIVD_LUKS_SRC := privd/luks/volume_ops.c privd/luks/volume_maint.c privd/luks/vol.c privd/luks/dm_name.c privd/luks/kdf_budget.c privd/luks/luks.c \
	privd/luks/dm_stale.c privd/luks/loopdev.c privd/luks/blkprobe.c privd/luks/vol_owner.c \
	privd/luks/node_limits.c privd/luks/vol_admit.c
# Passphrase rotation (issue 14): the keyslot swap and its privd wrapper.
PRIVD_LUKS_SRC += privd/luks/luks_rekey.c privd/luks/rekey.c privd/luks/rotate.c privd/luks/reclaim.c
PRIVD_S3_SRC := privd/s3/s3_volume.c privd/s3/s3_table.c privd/s3/s3_records.c privd/s3/s3_secrets.c \
	privd/s3/s3_unstage.c privd/s3/s3_publish.c privd/s3/s3_supervisor.c privd/s3/vfs_cache.c \
	privd/s3/rclone_conf.c privd/s3/rclone_obscure.c privd/s3/rclone_argv.c privd/s3/rclone_dirty.c \
	privd/s3/cache_rescue.c privd/s3/s3_mounts.c privd/s3/rclone_fuse.c privd/s3/s3_forced.c \
	privd/s3/stale_scan.c privd/s3/s3_repair.c privd/s3/cache_restore.c privd/s3/rescue_tree.c \
	privd/s3/stranded.c
PRIVD_SRC := $(PRIVD_CORE_SRC) $(PRIVD_NODE_SRC) $(PRIVD_K8S_SRC) $(PRIVD_LUKS_SRC) $(PRIVD_S3_SRC)
FRONTEND_SRC := frontend/main.c frontend/server.c frontend/csi_identity.c frontend/csi_controller.c \
	frontend/csi_node.c frontend/csi_checks.c frontend/pb_strings.c \
	frontend/privd_client.c frontend/sandbox.c frontend/arena.c frontend/wipe_alloc.c \
	frontend/node_call.c frontend/s3_delete.c frontend/csi_capacity.c
FRONTEND_SRC += frontend/rotation.c frontend/csiaddons.c
# The block-device primitives the host tests exercise on real loop devices.
BLOCK_SRC := privd/luks/loopdev.c privd/luks/blkprobe.c privd/node/mountops.c privd/node/kpath.c

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

PRIVD_OBJ := $(call obj,$(PRIVD_SRC) $(COMMON_SRC) $(IPC_SRC) $(POLICY_SRC)) $(B)/obj/gen/policy_texts.o
FRONTEND_OBJ := $(call obj,$(FRONTEND_SRC) $(COMMON_SRC) $(IPC_SRC) $(POLICY_SRC)) $(B)/obj/gen/policy_texts.o \
	$(patsubst $(GEN)/%.c,$(B)/obj/gen/%.o,$(PROTO_GEN_C))

BINS := $(B)/bin/lukscryptwalker-csi $(B)/bin/lcw-frontend

all: $(BINS) $(GEN)/py/csi_pb2.py $(GEN)/py/csiaddons/identity_pb2.py

$(B)/bin/lukscryptwalker-csi: $(PRIVD_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,$(PKG_PRIVD))

$(B)/bin/lcw-frontend: $(FRONTEND_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,$(PKG_FRONTEND)) -lpthread

# privd must not link gRPC or protobuf: its objects may not include them.
$(B)/obj/privd/%.o: privd/%.c | $(GEN)/.stamp
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,$(PKG_PRIVD)) -c -o $@ $<

$(B)/obj/common/%.o: common/%.c | $(GEN)/.stamp
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,$(PKG_SHARED)) -c -o $@ $<

$(B)/obj/frontend/%.o: frontend/%.c | $(GEN)/.stamp
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,$(PKG_FRONTEND)) -c -o $@ $<

$(B)/obj/%.o: %.c | $(GEN)/.stamp
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,$(PKG_COMMON)) -c -o $@ $<

$(call obj,$(FRONTEND_SRC)): $(PROTO_GEN_C)

# Generated protobuf code is not ours to warn about beyond the defaults.
$(B)/obj/gen/%.o: $(GEN)/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused-parameter $(call pc_cflags,libprotobuf-c) -c -o $@ $<

$(GEN)/.stamp:
	@mkdir -p $(GEN)/google/protobuf $(GEN)/py
	@touch $@

$(GEN)/csi.pb-c.c $(GEN)/csi.pb-c.h: proto/csi.proto | $(GEN)/.stamp
	protoc-c -Iproto -I/usr/include --c_out=$(GEN) proto/csi.proto

# csi-addons: our own proto text (proto/csiaddons/), imports csi.proto
$(GEN)/csiaddons/%.pb-c.c $(GEN)/csiaddons/%.pb-c.h: proto/csiaddons/%.proto proto/csi.proto | $(GEN)/.stamp
	protoc-c -Iproto -I/usr/include --c_out=$(GEN) $<

$(GEN)/py/csiaddons/identity_pb2.py: $(CSIADDONS_PROTO) proto/csi.proto | $(GEN)/.stamp
	/usr/bin/python3 -m grpc_tools.protoc -Iproto -I/usr/include \
		--python_out=$(GEN)/py --grpc_python_out=$(GEN)/py $(CSIADDONS_PROTO)

$(GEN)/google/protobuf/%.pb-c.c: $(PROTO_WKT)/%.proto | $(GEN)/.stamp
	protoc-c -I/usr/include --c_out=$(GEN) $<

$(GEN)/py/csi_pb2.py: proto/csi.proto | $(GEN)/.stamp
	/usr/bin/python3 -m grpc_tools.protoc -Iproto -I/usr/include \
		--python_out=$(GEN)/py --grpc_python_out=$(GEN)/py proto/csi.proto

$(POLICY_TEXTS): policy/embed.sh policy/frontend.seccomp policy/controller.seccomp policy/privd.seccomp \
		policy/spawner.seccomp policy/privd.caps policy/spawner.caps policy/repair.seccomp \
		policy/frontend_serving.seccomp policy/controller_serving.seccomp | $(GEN)/.stamp
	sh policy/embed.sh $@ policy_frontend_seccomp=policy/frontend.seccomp \
		policy_controller_seccomp=policy/controller.seccomp \
		policy_frontend_serving_seccomp=policy/frontend_serving.seccomp \
		policy_controller_serving_seccomp=policy/controller_serving.seccomp \
		policy_privd_seccomp=policy/privd.seccomp policy_spawner_seccomp=policy/spawner.seccomp \
		policy_privd_caps=policy/privd.caps policy_spawner_caps=policy/spawner.caps \
		policy_repair_seccomp=policy/repair.seccomp

$(B)/obj/gen/policy_texts.o: $(POLICY_TEXTS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# ---- tests ------------------------------------------------------------------

UNIT_TESTS := $(B)/tests/test_codec $(B)/tests/test_policy $(B)/tests/test_flags $(B)/tests/test_kpath \
	$(B)/tests/test_dm_name $(B)/tests/test_stale_scan $(B)/tests/test_pod_cgroup \
	$(B)/tests/test_cache_rescue $(B)/tests/test_cache_restore $(B)/tests/test_stranded $(B)/tests/test_log $(B)/tests/test_pb_strings $(B)/tests/test_limits \
	$(B)/tests/test_rekey
HOST_TESTS := $(B)/tests/test_blockops $(B)/tests/test_luks
SECCOMP_TEST := $(B)/tests/test_seccomp
FUZZ_BIN := build-fuzz/fuzz_ipc_decode

# Test-only rules; optional so an image build can copy just the sources.
-include tests/k8s/k8s.mk
-include tests/s3/s3.mk
-include tests/adversary/adversary.mk

tests: $(UNIT_TESTS) $(SECCOMP_TEST) $(HOST_TESTS) $(K8S_TESTS) $(S3_TESTS) $(ADV_TESTS)

$(B)/tests/test_log: tests/unit/test_log.c $(call obj,common/log.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka)

$(B)/tests/test_pb_strings: tests/unit/test_pb_strings.c $(call obj,frontend/pb_strings.c) \
		$(patsubst $(GEN)/%.c,$(B)/obj/gen/%.o,$(PROTO_GEN_C))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka libprotobuf-c)

$(B)/tests/test_dm_name: tests/unit/test_dm_name.c $(call obj,privd/luks/dm_name.c common/volparams.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka libcrypto)

# The pod UID parser is pure; the rest of the client is linked for its symbols.
$(B)/tests/test_pod_cgroup: tests/unit/test_pod_cgroup.c \
		$(call obj,$(K8S_CLIENT_SRC) common/secmem.c common/base64.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,libcurl json-c) $(LDFLAGS) -o $@ \
		$(filter-out %.h,$^) $(call pc_libs,libcurl json-c cmocka) -lpthread

$(B)/tests/test_stale_scan: tests/unit/test_stale_scan.c $(call obj,privd/s3/stale_scan.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka)

$(B)/tests/test_kpath: tests/unit/test_kpath.c $(call obj,privd/node/kpath.c common/log.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka)

RESCUE_SRC := privd/s3/cache_rescue.c privd/s3/cache_restore.c privd/s3/rescue_tree.c \
	privd/s3/stranded.c privd/node/rm_tree.c common/log.c
$(B)/tests/test_cache_rescue: tests/unit/test_cache_rescue.c tests/unit/rescue_fx.h $(call obj,$(RESCUE_SRC))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka json-c)

$(B)/tests/test_cache_restore: tests/unit/test_cache_restore.c tests/unit/rescue_fx.h $(call obj,$(RESCUE_SRC))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka json-c)

$(B)/tests/test_stranded: tests/unit/test_stranded.c $(call obj,privd/s3/stranded.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka json-c)

$(B)/tests/test_limits: tests/unit/test_limits.c $(call obj,privd/jobq.c privd/luks/node_limits.c \
		privd/luks/vol_owner.c privd/flags.c $(S3_PARAMS_SRC) common/volparams.c common/secmem.c common/log.c \
		ipc/ipc_schema.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka json-c) -lpthread

# Real loop devices, libblkid and libmount on the host (root, no dm needed).
$(B)/tests/test_blockops: tests/host/test_blockops.c $(call obj,$(BLOCK_SRC) common/log.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,mount blkid) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,mount blkid)

# libcryptsetup on real dm-crypt: runs where device-mapper exists (the VM).
$(B)/tests/test_luks: tests/host/test_luks.c $(call obj,privd/luks/luks.c $(BLOCK_SRC) common/secmem.c common/log.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,libcryptsetup mount blkid) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,libcryptsetup mount blkid)

# The keyslot swap on LUKS2 headers in plain files (no device-mapper needed).
$(B)/tests/test_rekey: tests/unit/test_rekey.c $(call obj,privd/luks/luks_rekey.c privd/luks/luks.c common/secmem.c common/log.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,libcryptsetup) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,libcryptsetup cmocka)

$(B)/tests/test_codec: tests/unit/test_codec.c $(call obj,$(IPC_SRC))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,msgpack cmocka)

$(B)/tests/test_policy: tests/unit/test_policy.c $(call obj,$(POLICY_SRC) common/log.c) $(B)/obj/gen/policy_texts.o
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,libseccomp libcap-ng cmocka)

$(B)/tests/test_flags: tests/unit/test_flags.c $(call obj,privd/flags.c common/log.c $(S3_PARAMS_SRC) common/secmem.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,cmocka)

$(SECCOMP_TEST): tests/seccomp/test_seccomp.c $(call obj,$(POLICY_SRC) common/log.c) $(B)/obj/gen/policy_texts.o
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(call pc_libs,libseccomp libcap-ng)

# libFuzzer needs clang; built separately with ASan+UBSan.
$(FUZZ_BIN): tests/fuzz/fuzz_ipc_decode.c ipc/ipc_codec.c ipc/ipc_schema.c
	@mkdir -p $(@D)
	clang -g -O1 -std=gnu11 -Iipc -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ $(filter-out %.h,$^) $(call pc_libs,msgpack)

# Every object depends on every project header: coarse but never stale.
$(call obj,$(IPC_SRC) $(COMMON_SRC) $(POLICY_SRC) $(PRIVD_SRC) $(FRONTEND_SRC)) $(UNIT_TESTS) \
	$(SECCOMP_TEST) $(HOST_TESTS) $(FUZZ_BIN): $(HDRS)

check:
	tests/run-all.sh

demo:
	tests/demo.sh

bench:
	bench/run.sh

deps:
	tests/install-deps.sh

clean:
	rm -rf build build-san build-fuzz

.PHONY: all tests check demo bench deps clean
.DELETE_ON_ERROR:

# Print a variable (tests/layout/check-layout.sh reads the source lists).
print-%:
	@echo $($*)
