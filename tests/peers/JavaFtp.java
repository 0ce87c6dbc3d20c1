// Apache Commons Net's FTPClient against a server, passive and active:
// transfers (whole and streamed), its LIST parser and MLSD, file management.
// usage: java -cp commons-net.jar JavaFtp.java PORT PAYLOAD
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.apache.commons.net.ftp.FTP;
import org.apache.commons.net.ftp.FTPClient;
import org.apache.commons.net.ftp.FTPFile;

public class JavaFtp {
    static void must(boolean ok, FTPClient f, String what) {
        if (!ok) throw new RuntimeException(what + ": " + f.getReplyString().trim());
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        byte[] payload = Files.readAllBytes(Path.of(args[1]));
        for (boolean passive : new boolean[] {true, false}) {
            String m = passive ? "p" : "a";
            FTPClient f = new FTPClient();
            f.setDefaultTimeout(20000);
            f.setDataTimeout(Duration.ofSeconds(20));
            f.connect("127.0.0.1", port);
            must(f.login("anonymous", "x@"), f, "login");
            if (passive) f.enterLocalPassiveMode(); else f.enterLocalActiveMode();
            must(f.setFileType(FTP.BINARY_FILE_TYPE), f, "TYPE I");
            String name = "java-" + m + ".bin";
            must(f.storeFile(name, new ByteArrayInputStream(payload)), f, "storeFile");
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            must(f.retrieveFile(name, got), f, "retrieveFile");
            if (!Arrays.equals(got.toByteArray(), payload)) throw new RuntimeException("retrieveFile differs");
            OutputStream up = f.storeFileStream("java-" + m + ".stream");
            if (up == null) throw new RuntimeException("storeFileStream: " + f.getReplyString());
            up.write(payload);
            up.close();
            must(f.completePendingCommand(), f, "completePendingCommand");
            FTPFile listed = Arrays.stream(f.listFiles()).filter(x -> x != null && x.getName().equals(name))
                .findFirst().orElseThrow(() -> new RuntimeException("listFiles lacks " + name));
            if (listed.getSize() != payload.length || !listed.isFile()) throw new RuntimeException("listFiles: " + listed);
            FTPFile ml = Arrays.stream(f.mlistDir()).filter(x -> x.getName().equals(name))
                .findFirst().orElseThrow(() -> new RuntimeException("mlistDir lacks " + name));
            if (ml.getSize() != payload.length) throw new RuntimeException("mlistDir: " + ml);
            must(f.makeDirectory("jd-" + m), f, "makeDirectory");
            must(f.changeWorkingDirectory("jd-" + m), f, "changeWorkingDirectory");
            if (!f.printWorkingDirectory().equals("/jd-" + m)) throw new RuntimeException("pwd");
            must(f.changeToParentDirectory(), f, "changeToParentDirectory");
            must(f.removeDirectory("jd-" + m), f, "removeDirectory");
            must(f.rename(name, name + ".moved"), f, "rename");
            must(f.deleteFile(name + ".moved"), f, "deleteFile");
            must(f.logout(), f, "logout");
            f.disconnect();
        }
        System.out.println("ok");
    }
}
