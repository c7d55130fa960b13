package io.spectro.report;

import java.nio.file.Path;

/** The headless-Chromium helpers of {@link ExplorerTest}, for tests in other packages. */
public final class ExplorerTestAccess {
    private ExplorerTestAccess() {}

    public static String chromium() {
        return ExplorerTest.chromium();
    }

    public static String dumpDom(String exe, Path profile, String url) throws Exception {
        return ExplorerTest.runChromium(exe, profile, "--dump-dom", url);
    }
}
