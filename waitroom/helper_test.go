package waitroom

// helperEnv, when set, makes the test binary a helper process (see helperMain).
const helperEnv = "WAITROOM_TEST_HELPER"

func helperMain() int { return 2 }
