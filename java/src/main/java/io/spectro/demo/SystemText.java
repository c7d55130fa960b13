package io.spectro.demo;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Text present on any Debian/Ubuntu system, for the embedded demo's corpus: the licence texts in
 * /usr/share/common-licenses and the packages' copyright files in /usr/share/doc, read in sorted path
 * order (so the corpus is the same on machines with the same packages), UTF-8 only, de-duplicated.
 * When the system has too little of it (a minimal container), the project's own docs and sources are
 * added, so the demo works anywhere the repository is.
 */
public final class SystemText {
    private SystemText() {}

    /** A document and where it came from (its subset: "licenses", "copyright" or "project"). */
    public record Doc(String subset, String source, String text) {}

    public static List<Doc> collect(long maxChars, Path repo) {
        List<Doc> out = new ArrayList<>();
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        long[] total = {0};
        add(out, seen, total, maxChars / 3, "licenses", files(Path.of("/usr/share/common-licenses"), 1, p -> true));
        add(out, seen, total, maxChars, "copyright", files(Path.of("/usr/share/doc"), 2, p -> p.getFileName().toString().equals("copyright")));
        if (total[0] < maxChars / 4 && repo != null) {
            add(out, seen, total, maxChars, "project", files(repo.resolve("docs"), 1, p -> p.toString().endsWith(".md")));
            add(out, seen, total, maxChars, "project", files(repo.resolve("java/src/main/java"), 8, p -> p.toString().endsWith(".java")));
        }
        return out;
    }

    private static List<Path> files(Path root, int depth, java.util.function.Predicate<Path> keep) {
        if (!Files.isDirectory(root)) return List.of();
        try (Stream<Path> s = Files.walk(root, depth)) {
            return s.filter(Files::isRegularFile).filter(p -> !Files.isSymbolicLink(p)).filter(keep).sorted().toList();
        } catch (IOException | java.io.UncheckedIOException e) {
            return List.of();
        }
    }

    private static void add(List<Doc> out, java.util.Set<Integer> seen, long[] total, long max, String subset, List<Path> files) {
        var dec = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT);
        for (Path p : files) {
            if (total[0] >= max) return;
            try {
                if (Files.size(p) > 200_000) continue;
                String text = dec.reset().decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(p))).toString();
                if (text.length() < 200 || !seen.add(text.hashCode())) continue;
                out.add(new Doc(subset, p.toString(), text));
                total[0] += text.length();
            } catch (CharacterCodingException e) {
                // not UTF-8: skip
            } catch (IOException e) {
                // unreadable: skip
            }
        }
    }
}
