package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.report.Compare;
import io.spectro.structure.Pipeline;
import io.spectro.structure.TokenTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"Tokens across scale: for each token, the clusters that hold it in RUN_A and RUN_B side by side "
                + "(clusters are computed with the defaults when a run has none yet)."})
public final class CompareCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "first run directory")
    Path runA;
    @Parameters(index = "1", description = "second run directory")
    Path runB;
    @Option(names = "--tokens", required = true, description = "comma-separated tokens, e.g. she,her")
    String tokens;
    @Option(names = "--out", required = true, description = "the HTML page to write")
    Path out;

    @Override
    public Integer call() {
        List<String> list = Arrays.stream(tokens.split(",")).filter(s -> !s.isBlank()).toList();
        if (list.isEmpty()) throw new SpectroException("option --tokens: no tokens given");
        Pipeline.ClustersFile a = Pipeline.ensureClusters(runA), b = Pipeline.ensureClusters(runB);
        Compare.write(out, runA.toAbsolutePath().getFileName().toString(), a, TokenTable.read(runA, a.rows()),
                runB.toAbsolutePath().getFileName().toString(), b, TokenTable.read(runB, b.rows()), list);
        System.out.println(out.toAbsolutePath());
        return 0;
    }
}
