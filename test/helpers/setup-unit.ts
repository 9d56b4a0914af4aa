process.env.NSA_TEST_DEVICE = 'cpu';
