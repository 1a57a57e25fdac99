import { backendRequestHeaders, clientResponseHeaders } from './headers';

describe('backendRequestHeaders', () => {
  it('forwards what a FHIR interaction needs and states where the client reached the gateway', () => {
    const headers = backendRequestHeaders(
      {
        authorization: 'Bearer t',
        prefer: 'return=minimal',
        'if-match': 'W/"2"',
        'if-none-exist': 'identifier=a|b',
        'x-gtid': 'g-1',
        'x-correlation-id': 'c-1',
        'content-type': 'application/fhir+json',
        connection: 'keep-alive, x-secret',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        'proxy-authorization': 'Basic x',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-prefix': '/evil',
        'x-secret': 'drop me',
        cookie: 'session=1',
        host: 'gw:8080',
      },
      { clientAddress: '10.0.0.7', protocol: 'https', host: 'gw:8080' },
    );
    expect(headers).toEqual({
      authorization: 'Bearer t',
      prefer: 'return=minimal',
      'if-match': 'W/"2"',
      'if-none-exist': 'identifier=a|b',
      'x-gtid': 'g-1',
      'x-correlation-id': 'c-1',
      'content-type': 'application/fhir+json',
      'x-forwarded-for': '10.0.0.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'gw:8080',
    });
  });

  it('extends a trusted X-Forwarded-For chain and passes a trusted prefix on', () => {
    const headers = backendRequestHeaders(
      {},
      {
        clientAddress: '127.0.0.1',
        priorForwardedFor: '203.0.113.9',
        protocol: 'http',
        host: 'h',
        prefix: '/r4',
      },
    );
    expect(headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(headers['x-forwarded-prefix']).toBe('/r4');
  });
});

describe('clientResponseHeaders', () => {
  it('drops hop-by-hop headers and those the Connection header lists, keeps the FHIR ones', () => {
    const headers = clientResponseHeaders({
      'content-type': 'application/fhir+json',
      etag: 'W/"1"',
      location: 'http://gw/fhir/Patient/1/_history/1',
      connection: 'close, x-hop',
      'x-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'www-authenticate': 'Bearer',
      'set-cookie': ['a=1', 'b=2'],
      undef: undefined,
    });
    expect(Object.fromEntries(headers)).toEqual({
      'content-type': 'application/fhir+json',
      etag: 'W/"1"',
      location: 'http://gw/fhir/Patient/1/_history/1',
      'www-authenticate': 'Bearer',
      'set-cookie': ['a=1', 'b=2'],
    });
  });
});
