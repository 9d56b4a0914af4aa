process.env.NSA_TEST_DEVICE = 'cuda:0';
