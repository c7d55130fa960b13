package io.spectro.cli;

import io.spectro.SpectroException;
import io.spectro.Version;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The spectro command line. Each subcommand lives in its own class in this package. */
@Command(name = "spectro", mixinStandardHelpOptions = true, version = "spectro " + Version.VERSION,
        description = "Susceptibility spectroscopy for Pythia (GPT-NeoX) language models.",
        subcommands = {
                CommandLine.HelpCommand.class,
                InfoCommand.class, InitCommand.class, LossCommand.class, GradCommand.class, BenchCommand.class,
                DataCommand.class, ChiCommand.class, CalibrateCommand.class, DiagnoseCommand.class, CostCommand.class, TrainCommand.class, DemoCommand.class,
                WhitenCommand.class, ClusterCommand.class, MapCommand.class, ReportCommand.class, CompareCommand.class,
                UpsampleCommand.class,
        })
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code: 0 ok, 1 internal error, 2 bad input or usage. */
    public static int run(String... args) {
        return execute(new Main(), args);
    }

    /**
     * Runs a picocli command object (this CLI, or a tool built on its commands such as spectro-spark) with
     * spectro's exit codes: a {@link SpectroException} anywhere in the cause chain prints its message and gives 2.
     */
    public static int execute(Object command, String... args) {
        CommandLine cl = new CommandLine(command);
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable t = ex;
            while (t != null && !(t instanceof SpectroException)) t = t.getCause();
            if (t == null && ex.getCause() instanceof OutOfMemoryError oom) return outOfMemory(cmd.getErr(), cmd.getCommandName(), oom);
            if (t != null) {
                cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + t.getMessage());
                return 2;
            }
            cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": internal error: " + ex);
            ex.printStackTrace(cmd.getErr());
            return 1;
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            return outOfMemory(cl.getErr(), "", e);
        }
    }

    /** Memory ran out where no size check caught it first: say so and how to give the JVM more, without a stack trace. */
    private static int outOfMemory(java.io.PrintWriter err, String command, OutOfMemoryError e) {
        err.printf("spectro %s: out of memory (%s; the JVM may use at most %.1f GiB): use smaller inputs or settings, "
                + "or give the JVM more with SPECTRO_JAVA_OPTS=-Xmx<size>%n", command, e.getMessage(), Runtime.getRuntime().maxMemory() / 1073741824.0);
        err.flush();
        return 2;
    }
}
