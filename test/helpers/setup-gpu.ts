// The gpu project: cuda:0 unless NSA_TEST_DEVICE names another (NSA_TEST_DEVICES=all: every GPU).
process.env.NSA_TEST_DEVICE ??= 'cuda:0';
