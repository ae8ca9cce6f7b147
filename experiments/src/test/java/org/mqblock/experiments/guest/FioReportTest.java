package org.mqblock.experiments.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FioReportTest {

    /** Trimmed from fio 3.33's JSON in the guest: a warning line before it, two jobs. */
    static final String TWO_JOBS = """
            fio: some warning fio printed first
            {
              "fio version" : "fio-3.33",
              "jobs" : [
                {
                  "jobname" : "wv", "error" : 0,
                  "read" : { "iops" : 100.5, "total_ios" : 400,
                             "clat_ns" : { "percentile" : { "50.000000" : 1000, "99.000000" : 250000 } } },
                  "write" : { "iops" : 50.0, "total_ios" : 400,
                              "clat_ns" : { "percentile" : { "99.000000" : 1500000 } } },
                  "trim" : { "iops" : 0.000000, "total_ios" : 0, "clat_ns" : { "N" : 0 } }
                },
                {
                  "jobname" : "wv", "error" : 5,
                  "read" : { "iops" : 99.5, "total_ios" : 396,
                             "clat_ns" : { "percentile" : { "99.000000" : 350000 } } },
                  "write" : { "iops" : 10.0, "total_ios" : 396,
                              "clat_ns" : { "percentile" : { "99.000000" : 500000 } } },
                  "trim" : { "iops" : 0.0, "total_ios" : 0 }
                }
              ],
              "disk_util" : [ { "name" : "vda", "util" : 93.5, "note" : "a \\"quoted\\" \\u00e9" } ]
            }
            """;

    @Test
    void jobsAreSummedAndTheLargestP99Kept() {
        FioReport r = FioReport.parse(TWO_JOBS);
        assertEquals(2, r.jobs());
        assertEquals(5, r.errors());
        assertEquals(200.0, r.readIops(), 1e-9);
        assertEquals(60.0, r.writeIops(), 1e-9);
        assertEquals(260.0, r.iops(), 1e-9);
        assertEquals(796, r.readIos());
        assertEquals(796, r.writeIos());
        assertEquals(0, r.trimIos());
        assertEquals(350.0, r.readP99Us(), 1e-9);
        assertEquals(1500.0, r.writeP99Us(), 1e-9);
    }

    @Test
    void aDirectionWithoutIoHasNoPercentile() {
        FioReport r = FioReport.parse("{\"jobs\": [{\"error\": 0, \"read\": {\"iops\": 10, \"total_ios\": 10,"
                + " \"clat_ns\": {\"percentile\": {\"99.000000\": 2000}}}, \"write\": {\"iops\": 0, \"total_ios\": 0}}]}");
        assertEquals(2.0, r.readP99Us(), 1e-9);
        assertTrue(Double.isNaN(r.writeP99Us()));
    }

    @Test
    void badInputIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FioReport.parse("fio: error"));
        assertTrue(e.getMessage().contains("no JSON"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FioReport.parse("{\"jobs\": [}"));
        assertTrue(e.getMessage().contains("offset"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FioReport.parse("{\"jobs\": []}"));
        assertTrue(e.getMessage().contains("no jobs"), e.getMessage());
    }
}
