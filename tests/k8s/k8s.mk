# Kubernetes API client and volume reclaim: test binaries. Included by the
# top-level Makefile before its "tests:" rule (uses its B, CC, CPPFLAGS,
# CFLAGS, LDFLAGS, obj, pc_cflags, pc_libs and the privd/ object rule).

K8S_SRC := $(K8S_CLIENT_SRC) privd/k8s/reclaim.c
K8S_TESTS := $(B)/tests/test_k8s_client $(B)/tests/test_reclaim $(B)/tests/test_pv_stage \
	$(B)/tests/test_k8s_event

# HTTPS against tests/k8s/fake_apiserver.py; run it through tests/k8s/run.sh.
$(B)/tests/test_k8s_client: tests/k8s/test_k8s_client.c $(call obj,$(K8S_CLIENT_SRC) common/secmem.c common/base64.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,libcurl json-c) $(LDFLAGS) -o $@ \
		$(filter-out %.h,$^) $(call pc_libs,libcurl json-c) -lpthread

# Events and claims over HTTPS against fake_apiserver.py (tests/k8s/run.sh
# BIN), with privd's pure claim parser and event rate limit.
$(B)/tests/test_k8s_event: tests/k8s/test_k8s_event.c \
		$(call obj,privd/k8s/pv_claim.c $(K8S_CLIENT_SRC) common/secmem.c common/base64.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,libcurl json-c) $(LDFLAGS) -o $@ \
		$(filter-out %.h,$^) $(call pc_libs,libcurl json-c) -lpthread

# cmocka: the keep/grace/erase decision and the scan driver.
$(B)/tests/test_reclaim: tests/k8s/test_reclaim.c \
		$(call obj,$(K8S_SRC) common/volparams.c common/secmem.c common/log.c common/base64.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,libcurl json-c cmocka) $(LDFLAGS) -o $@ \
		$(filter-out %.h,$^) $(call pc_libs,libcurl json-c cmocka) -lpthread

# cmocka: stage parameters from PersistentVolume objects (JSON fixtures).
$(B)/tests/test_pv_stage: tests/k8s/test_pv_stage.c \
		$(call obj,privd/k8s/pv_stage.c $(K8S_CLIENT_SRC) $(S3_PARAMS_SRC) common/volparams.c \
		common/secmem.c common/log.c common/base64.c)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(call pc_cflags,libcurl json-c cmocka) $(LDFLAGS) -o $@ \
		$(filter-out %.h,$^) $(call pc_libs,libcurl json-c cmocka) -lpthread

# Coarse header dependencies, as for the rest of the tree.
$(K8S_TESTS) $(call obj,$(K8S_SRC)): $(HDRS)
