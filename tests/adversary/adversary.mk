# The adversary suite: the real privd with a compromised frontend
# (tests/adversary/adv.h). Included from the Makefile.

ADV_DEPS := $(call obj,tests/adversary/adv.c ipc/ipc_codec.c ipc/ipc_schema.c ipc/ipc_chan.c common/log.c)
ADV_PROGS := test_protocol test_local_root test_pv_bound test_bounds test_volumes test_paths
ADV_TESTS := $(B)/tests/hostile_frontend $(addprefix $(B)/tests/adv_,$(ADV_PROGS))

# Exec'd by privd's spawner in place of lcw-frontend; needs nothing else.
# Never sanitized: it is not code under test, and LeakSanitizer's exit-time
# scan fails as the frontend's uid under no_new_privs, so it would never
# exit and privd would (rightly) refuse to start a second frontend.
$(B)/tests/hostile_frontend: tests/adversary/hostile_frontend.c
	@mkdir -p $(@D)
	$(CC) $(filter-out -fsanitize%,$(CFLAGS)) $(filter-out -fsanitize%,$(LDFLAGS)) -o $@ $<

$(B)/tests/adv_%: tests/adversary/%.c $(ADV_DEPS) tests/adversary/adv.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/adversary $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) \
		$(call pc_libs,msgpack) -lpthread

$(B)/obj/tests/adversary/adv.o: tests/adversary/adv.h

$(B)/tests/adv_test_bounds $(B)/tests/adv_test_volumes: tests/adversary/plant.h
