# S3 backend building blocks: test binaries. Included by the top-level
# Makefile before its "tests:" rule (uses its B, CC, CPPFLAGS, CFLAGS,
# LDFLAGS, obj, pc_cflags, pc_libs and the privd/ object rule).

S3_SRC := $(S3_PARAMS_SRC) privd/s3/rclone_conf.c privd/s3/rclone_obscure.c privd/s3/rclone_argv.c \
	privd/s3/rclone_dirty.c $(S3_PURGE_SRC)
S3_PKGS := libcurl libxml-2.0 libcrypto json-c
S3_TESTS := $(B)/tests/test_s3_params $(B)/tests/test_s3_live

# libxml2's headers live in their own directory.
$(call obj,$(S3_SRC)): CFLAGS += $(call pc_cflags,$(S3_PKGS))

# cmocka: parameter parsing, obscure/reveal, config text, mount argv.
$(B)/tests/test_s3_params: tests/s3/test_s3_params.c \
		$(call obj,$(S3_SRC) common/secmem.c common/volparams.c common/base64.c common/log.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,$(S3_PKGS) cmocka) $(LDFLAGS) -o $@ \
		$(filter-out %.h,$^) $(call pc_libs,$(S3_PKGS) cmocka)

# Against real rclone and s3rver: run it through tests/s3/run.sh.
$(B)/tests/test_s3_live: tests/s3/test_s3_live.c \
		$(call obj,$(S3_SRC) privd/s3/cache_rescue.c privd/s3/cache_restore.c privd/s3/rescue_tree.c privd/s3/stranded.c privd/node/rm_tree.c privd/s3/rclone_fuse.c common/secmem.c common/volparams.c common/base64.c common/log.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,$(S3_PKGS)) $(LDFLAGS) -o $@ \
		$(filter-out %.h,$^) $(call pc_libs,$(S3_PKGS) libcap-ng)

# Coarse header dependencies, as for the rest of the tree.
$(S3_TESTS) $(call obj,$(S3_SRC)): $(HDRS)
