package io.spectro.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code spectro upsample}: the upsampling stage (docs/upsampling.md); one class per subcommand. */
@Command(name = "upsample", mixinStandardHelpOptions = true,
        description = {"Upsampling: predict chi for many more tokens with an auxiliary model (docs/upsampling.md)."},
        subcommands = {UpsampleCombineCommand.class})
public final class UpsampleCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
