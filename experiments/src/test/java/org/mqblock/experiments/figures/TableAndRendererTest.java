package org.mqblock.experiments.figures;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mqblock.experiments.JsonOut;
import org.mqblock.experiments.MiniJson;

class TableAndRendererTest {

    @Test
    void csvQuotesWhatNeedsItAndJsonParses(@TempDir Path dir) throws Exception {
        Table t = new Table("name", "n", "x");
        t.add("a,b", 3, 1.5);
        t.add("say \"hi\"", 4L, 2.0);
        t.writeCsv(dir.resolve("t.csv"));
        assertEquals(List.of("name,n,x", "\"a,b\",3,1.5000", "\"say \"\"hi\"\"\",4,2"),
                Files.readAllLines(dir.resolve("t.csv")));
        JsonOut j = new JsonOut();
        t.writeJson(j);
        Object doc = MiniJson.parse(j.toString());
        assertEquals("a,b", MiniJson.at(doc, 0, "name"));
        assertEquals(2.0, MiniJson.at(doc, 1, "x"));
    }

    @Test
    void rowsMustMatchTheColumns() {
        Table t = new Table("a", "b");
        assertThrows(IllegalArgumentException.class, () -> t.add(1));
        assertThrows(IllegalArgumentException.class, () -> t.add(1, new Object()));
    }

    @Test
    void jsonOutRefusesUnbalancedNesting() {
        assertThrows(IllegalStateException.class, () -> new JsonOut().beginObject().toString());
        assertThrows(IllegalStateException.class, () -> new JsonOut().beginArray().endObject());
        assertEquals("{\n  \"nan\": null\n}\n", new JsonOut().beginObject().field("nan", Double.NaN).endObject().toString());
    }

    @Test
    void rendersPngAndPdfHeadless(@TempDir Path dir) throws Exception {
        Table t = new Table("mode", "x", "y");
        t.add("mq", 1, 10.0);
        t.add("mq", 2, 20.0);
        Panel line = Panel.lines("a line", "x", "y").series("mq", t, t.rows(), "x", "y");
        Panel bars = Panel.bars("bars", "x", "y").series("mq", t, t.rows(), "x", "y");
        Path png = dir.resolve("f.png");
        Path pdf = dir.resolve("f.pdf");
        Renderer.render(List.of(line, bars), List.of("a note that is long enough to wrap " + "word ".repeat(80)), png, pdf);
        byte[] p = Files.readAllBytes(png);
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(p, 4));
        assertTrue(new String(Files.readAllBytes(pdf), 0, 5, StandardCharsets.US_ASCII).startsWith("%PDF"));
    }

    @Test
    void notesWrapAtTheWidth() {
        List<String> lines = Renderer.wrap(List.of("one two three four five six"), 10);
        assertEquals(List.of("one two", "  three", "  four", "  five six"), lines);
    }
    @Test
    void tickLabelsAreShort() {
        assertEquals("1.5M", Renderer.compact(1_500_000.0));
        assertEquals("32.77k", Renderer.compact(32_768.0));
        assertEquals("8", Renderer.compact(8.0));
        assertEquals("0.25", Renderer.compact(0.25));
        assertEquals("2000", Renderer.compact(2000.0));
    }
}
