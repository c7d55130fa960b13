package io.spectro.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Locates the real GPT-NeoX tokenizer.json for tests (absent in some checkouts: tests then skip). */
public final class TestFiles {
    private TestFiles() {}

    public static Optional<Path> neoxTokenizer() {
        List<Path> candidates = new ArrayList<>();
        String explicit = System.getProperty("spectro.tokenizer");
        if (explicit != null) candidates.add(Path.of(explicit));
        String repo = System.getProperty("spectro.repo");
        if (repo != null) {
            Path r = Path.of(repo).toAbsolutePath().normalize();
            candidates.add(r.resolve("../shared/data/gpt-neox-20b-tokenizer.json").normalize());
            candidates.add(r.resolve("shared/data/gpt-neox-20b-tokenizer.json"));
        }
        candidates.add(Path.of("/work/shared/data/gpt-neox-20b-tokenizer.json"));
        return candidates.stream().filter(Files::isRegularFile).findFirst();
    }
}
