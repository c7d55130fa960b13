package io.spectro.cli;

import io.spectro.calibrate.Distinguishability;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code spectro diagnose RUN --baseline BASE [--replicate RUN2]}. */
@Command(name = "diagnose", mixinStandardHelpOptions = true,
        description = {"Is RUN's structure distinguishable from its nbeta = 0 baseline beyond the seed-to-seed noise? Per component the",
                "correlation of RUN's chi column with BASE's and with RUN2's (same settings, another seed); for the whitened",
                "clustering (computed with the defaults where missing) the adjusted Rand index of RUN with BASE and with RUN2.",
                "Flags RUN when ARI(RUN, BASE) > ARI(RUN, RUN2) - 0.1. Writes RUN/diagnose.md."})
public final class DiagnoseCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "RUN", description = "run directory (chi.npy)") Path run;
    @Option(names = "--baseline", required = true, description = "the baseline's run directory (spectro chi --baseline)") Path baseline;
    @Option(names = "--replicate", description = "the same settings as RUN with another --seed: the seed-to-seed ceiling") Path replicate;

    @Override
    public Integer call() {
        Distinguishability.Report r = Distinguishability.compare(run, baseline, replicate);
        String t = r.table();
        System.out.print(t);
        Path f = run.resolve("diagnose.md"), tmp = run.resolve("diagnose.md.tmp");
        try {
            java.nio.file.Files.writeString(tmp, "# " + run + " against " + baseline
                    + (replicate == null ? "" : " (ceiling: " + replicate + ")") + "\n\n" + t);
            java.nio.file.Files.move(tmp, f, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (java.io.IOException e) {
            throw new io.spectro.SpectroException(f + ": cannot write (" + e.getMessage() + ")", e);
        }
        return 0;
    }
}
