package dev.waitroom.enginedev;

import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.security.Key;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.KeySourceException;
import com.nimbusds.jose.jwk.source.ImmutableSecret;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.BadJOSEException;
import com.nimbusds.jose.proc.DefaultJOSEObjectTypeVerifier;
import com.nimbusds.jose.proc.JWSKeySelector;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jose.util.DefaultResourceRetriever;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.ConfigurableJWTProcessor;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes the engine's REST API behave like one behind an OAuth2 gateway: every request needs
 * {@code Authorization: Bearer <JWT>} with a valid signature, an {@code exp} claim in the
 * future and, when configured, the expected audience and issuer; otherwise it is answered 401
 * before it reaches the engine. Only {@code GET <rest>/engine} stays open (the readiness
 * probe), as with the engine's own HTTP Basic filter.
 *
 * <p>Keys: an HS256 shared secret (simplest to drive from a test: sign with the same secret),
 * a JWK set URL (RS/PS/ES algorithms; the keys of an authorization server such as Keycloak, or
 * of a token endpoint run by a test), or both (a token is then checked with the key source
 * matching its {@code alg}). No clock skew is allowed: tests of token expiry need not wait.
 *
 * <p>Authentication only: the token's subject is not handed to the engine's identity service
 * and authorization checks stay off. Built into both development engines (dev/camunda,
 * dev/operaton); it depends on the servlet API and nimbus-jose-jwt only.
 */
public final class BearerTokenFilter implements Filter {

  /** HS256 shared secret, at least 32 bytes (UTF-8). */
  public static final String ENV_HS256_SECRET = "CAMUNDA_DEV_BEARER_HS256_SECRET";
  /** URL of a JWK set (RFC 7517) with the public keys of RS256/PS256/ES256 tokens. */
  public static final String ENV_JWKS_URI = "CAMUNDA_DEV_BEARER_JWKS_URI";
  /** When set, a token's {@code aud} must contain this value. */
  public static final String ENV_AUDIENCE = "CAMUNDA_DEV_BEARER_AUDIENCE";
  /** When set, a token's {@code iss} must equal this value. */
  public static final String ENV_ISSUER = "CAMUNDA_DEV_BEARER_ISSUER";

  private static final Logger LOG = LoggerFactory.getLogger(BearerTokenFilter.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String REALM = "engine-rest";

  /** What to validate; {@link #enabled()} when a secret or a JWK set URL is given. */
  public record Settings(String hs256Secret, String jwksUri, String audience, String issuer) {

    /** Reads the {@code CAMUNDA_DEV_BEARER_*} variables through env (e.g. System::getenv). */
    public static Settings fromEnv(UnaryOperator<String> env) {
      return new Settings(
          blankToNull(env.apply(ENV_HS256_SECRET)),
          blankToNull(env.apply(ENV_JWKS_URI)),
          blankToNull(env.apply(ENV_AUDIENCE)),
          blankToNull(env.apply(ENV_ISSUER)));
    }

    /** True when tokens are to be required. */
    public boolean enabled() {
      return hs256Secret != null || jwksUri != null;
    }

    /** Checks the settings at start-up; the message names the variable (never the secret). */
    public void validate() {
      if (!enabled() && (audience != null || issuer != null)) {
        throw new IllegalArgumentException(ENV_AUDIENCE + "/" + ENV_ISSUER + " need "
            + ENV_HS256_SECRET + " or " + ENV_JWKS_URI + " (the key that signs the tokens)");
      }
      if (hs256Secret != null && hs256Secret.getBytes(StandardCharsets.UTF_8).length < 32) {
        throw new IllegalArgumentException(
            ENV_HS256_SECRET + " must be at least 32 bytes (HS256 needs a 256-bit key)");
      }
      if (jwksUri != null) {
        jwksUrl(jwksUri);
      }
    }

    @Override
    public String toString() {
      // the secret stays out of logs and exception messages
      return "hs256=" + (hs256Secret == null ? "off" : "on") + ", jwksUri=" + jwksUri
          + ", audience=" + audience + ", issuer=" + issuer;
    }
  }

  private final ConfigurableJWTProcessor<SecurityContext> processor;
  private final Set<String> openPaths;

  /**
   * @param settings validated, enabled settings
   * @param restPath the REST API's root path, e.g. {@code /engine-rest}
   */
  public BearerTokenFilter(Settings settings, String restPath) {
    settings.validate();
    if (!settings.enabled()) {
      throw new IllegalArgumentException("bearer token validation needs " + ENV_HS256_SECRET
          + " or " + ENV_JWKS_URI);
    }
    String root = "/" + restPath.replaceAll("^/+|/+$", "");
    this.openPaths = Set.of(root + "/engine", root + "/engine/");

    List<JWSKeySelector<SecurityContext>> selectors = new ArrayList<>();
    if (settings.hs256Secret() != null) {
      selectors.add(new JWSVerificationKeySelector<>(JWSAlgorithm.HS256,
          new ImmutableSecret<>(settings.hs256Secret().getBytes(StandardCharsets.UTF_8))));
    }
    if (settings.jwksUri() != null) {
      // Fetched on the first token, cached, fetched again for every unknown key id (no rate
      // limit: a refused token must be a 401 whatever came before it, and key rotation in a
      // test must not wait). Timeouts well above the library's 500 ms default: the machine
      // running tests may be busy.
      JWKSource<SecurityContext> keys = JWKSourceBuilder
          .create(jwksUrl(settings.jwksUri()), new DefaultResourceRetriever(5000, 5000, 1 << 20))
          .retrying(true)
          .rateLimited(false)
          .build();
      Set<JWSAlgorithm> algs = new HashSet<>(JWSAlgorithm.Family.RSA);
      algs.addAll(JWSAlgorithm.Family.EC);
      selectors.add(new JWSVerificationKeySelector<>(algs, keys));
    }

    DefaultJWTProcessor<SecurityContext> p = new DefaultJWTProcessor<>();
    p.setJWSTypeVerifier(new DefaultJOSEObjectTypeVerifier<>(
        JOSEObjectType.JWT, new JOSEObjectType("at+jwt"), null));
    p.setJWSKeySelector((header, ctx) -> {
      for (JWSKeySelector<SecurityContext> s : selectors) {
        List<? extends Key> found = s.selectJWSKeys(header, ctx);
        if (!found.isEmpty()) {
          return found;
        }
      }
      return List.of();
    });
    JWTClaimsSet exact = settings.issuer() == null
        ? new JWTClaimsSet.Builder().build()
        : new JWTClaimsSet.Builder().issuer(settings.issuer()).build();
    DefaultJWTClaimsVerifier<SecurityContext> claims =
        new DefaultJWTClaimsVerifier<>(settings.audience(), exact, Set.of("exp"));
    claims.setMaxClockSkew(0);
    p.setJWTClaimsSetVerifier(claims);
    this.processor = p;
    LOG.info("REST API requires bearer tokens ({})", settings);
  }

  @Override
  public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
      throws IOException, ServletException {
    HttpServletRequest req = (HttpServletRequest) request;
    HttpServletResponse res = (HttpServletResponse) response;
    String path = req.getRequestURI().substring(req.getContextPath().length());
    if ("GET".equals(req.getMethod()) && openPaths.contains(path)) {
      chain.doFilter(request, response);
      return;
    }
    String header = req.getHeader("Authorization");
    if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      refuse(res, req, 401, "missing bearer token (Authorization: Bearer <JWT>)", false);
      return;
    }
    String token = header.substring(7).trim();
    try {
      processor.process(token, null);
    } catch (ParseException e) {
      refuse(res, req, 401, "malformed JWT: " + e.getMessage(), true);
      return;
    } catch (KeySourceException e) {
      String why = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
      refuse(res, req, 503, "cannot fetch the JWK set: " + why, true);
      return;
    } catch (BadJOSEException | JOSEException e) {
      refuse(res, req, 401, e.getMessage(), true);
      return;
    }
    chain.doFilter(request, response);
  }

  private static void refuse(HttpServletResponse res, HttpServletRequest req, int status,
      String message, boolean invalidToken) throws IOException {
    LOG.info("refused {} {}: {}", req.getMethod(), req.getRequestURI(), message);
    String challenge = "Bearer realm=\"" + REALM + "\"";
    if (invalidToken) {
      challenge += ", error=\"invalid_token\", error_description=\""
          + message.replaceAll("[\"\\\\\\p{Cntrl}]", "'") + "\"";
    }
    res.setStatus(status);
    res.setHeader("WWW-Authenticate", challenge);
    res.setContentType("application/json");
    res.setCharacterEncoding("UTF-8");
    // the engine's own error shape: {"type": ..., "message": ...}
    res.getWriter().write(JSON.writeValueAsString(
        Map.of("type", "AuthenticationException", "message", message)));
  }

  private static URL jwksUrl(String uri) {
    try {
      URI u = new URI(uri);
      String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
      if (!scheme.equals("http") && !scheme.equals("https")) {
        throw new IllegalArgumentException(ENV_JWKS_URI + " must be an http(s) URL, got " + uri);
      }
      return u.toURL();
    } catch (URISyntaxException | MalformedURLException e) {
      throw new IllegalArgumentException(ENV_JWKS_URI + " is not a URL: " + uri, e);
    }
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s;
  }
}
