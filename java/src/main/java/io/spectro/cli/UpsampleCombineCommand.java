package io.spectro.cli;

import io.spectro.upsample.Combine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code spectro upsample combine --run A --run B ... --out C}: one run of ground-truth and predicted rows. */
@Command(name = "combine", mixinStandardHelpOptions = true,
        description = {"Concatenate runs of the same model and components (ground truth, predicted, combined) into one run",
                "directory: chi.npy, chi_se.npy (when every part has it), tokens, contexts, predicted.npy and a manifest",
                "with each part's provenance. whiten fits on the ground-truth rows only and transforms all of them."})
public final class UpsampleCombineCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, description = "a run directory; repeat for each part, rows in this order")
    List<Path> runs;
    @Option(names = "--out", required = true, description = "the combined run directory (must not exist, or be empty)")
    Path out;

    @Override
    public Integer call() {
        Combine.Result r = Combine.combine(runs, out);
        System.out.printf("%s: %d rows x %d components from %d runs %s, %d predicted%s%s%n", r.out(), r.rows(), r.columns(),
                r.partRows().size(), r.partRows(), r.predicted(), r.withSe() ? ", with chi_se.npy" : ", without chi_se.npy (not in every part)",
                r.withTokens() ? "" : ", without tokens (no part has tokens.arrow)");
        if (!r.filled().isEmpty())
            System.out.printf("columns %s are NaN in the rows of the parts that lack them (predicted runs hold only the columns their "
                    + "AUX's whitening used; health gating in diagnostics.json leaves them out, or pass --drop-nan-columns)%n", r.filled());
        return 0;
    }
}
